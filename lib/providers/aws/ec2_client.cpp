#include "providers/aws/ec2_client.hpp"

#include <cstdlib>

#include "providers/aws/ec2_xml.hpp"

namespace raycluster::detail::ec2 {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_throttle_code(std::string_view c) {
  return c == "RequestLimitExceeded" || c == "Throttling" || c == "ThrottlingException" ||
         c == "ThrottledException" || c == "RequestThrottled" || c == "TooManyRequestsException" ||
         c == "SlowDown" || c == "EC2ThrottledException" || c == "PriorRequestNotComplete";
}

bool is_skew_code(std::string_view c) {
  return c == "RequestExpired" || c == "RequestTimeTooSkewed" || c == "SignatureDoesNotMatch" ||
         c == "AuthFailure" || c == "InvalidSignatureException" || c == "RequestInTheFuture";
}

// Smaller differences are not what made the service refuse a signature.
constexpr std::chrono::seconds kSkewWorthCorrecting{30};

}  // namespace

ErrorCode error_code_for(std::string_view c, int status) {
  if (is_throttle_code(c)) return ErrorCode::throttled;
  if (c == "AuthFailure" || c == "UnauthorizedOperation" || c == "SignatureDoesNotMatch" ||
      c == "InvalidClientTokenId" || c == "MissingAuthenticationToken" || c == "RequestExpired" ||
      c == "IncompleteSignature" || c == "OptInRequired" || c == "Blocked" ||
      c == "PendingVerification" || c == "AccessDenied" || c == "AccessDeniedException" ||
      c == "ExpiredToken" || c == "InvalidSignatureException")
    return ErrorCode::auth;
  if (ends_with(c, ".NotFound") || ends_with(c, "NotFound")) return ErrorCode::not_found;
  if (starts_with(c, "Insufficient") && ends_with(c, "Capacity")) return ErrorCode::capacity;
  if (c == "InsufficientFreeAddressesInSubnet" || c == "SpotMaxPriceTooLow")
    return ErrorCode::capacity;
  if (c == "Unsupported" || c == "UnsupportedOperation" || c == "InvalidInstanceType")
    return ErrorCode::unsupported;
  if (ends_with(c, "LimitExceeded") || c == "MaxSpotInstanceCountExceeded" ||
      c == "InsufficientAddressCapacity")
    return ErrorCode::quota;
  if (c == "InternalError" || c == "InternalFailure" || c == "ServiceUnavailable" ||
      c == "Unavailable")
    return ErrorCode::unavailable;
  if (status >= 500) return ErrorCode::unavailable;
  if (status == 429) return ErrorCode::throttled;
  if (status == 401 || status == 403) return ErrorCode::auth;
  return ErrorCode::invalid_request;
}

bool is_retryable(std::string_view c, int status) {
  switch (error_code_for(c, status)) {
    case ErrorCode::throttled:
    case ErrorCode::capacity:
    case ErrorCode::unavailable:
      return true;
    default:
      return c == "IncorrectInstanceState" || c == "IncorrectState" ||
             c == "DependencyViolation";
  }
}

bool is_throttle_response(const HttpResponse& response) {
  if (response.status < 400) return false;
  // Cheap test first: most error bodies are small, and 2xx bodies never get here.
  if (response.body.find("<Code>") == std::string::npos) return false;
  auto info = parse_error(response.body);
  return info && is_throttle_code(info->code);
}

bool is_capacity_response(const HttpResponse& response) {
  if (response.status < 500 || response.body.find("<Code>") == std::string::npos) return false;
  auto info = parse_error(response.body);
  return info && error_code_for(info->code, response.status) == ErrorCode::capacity;
}

void add_list(QueryParams& params, const std::string& prefix, const std::vector<std::string>& values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    params.emplace_back(prefix + "." + std::to_string(i + 1), values[i]);
}

void add_filter(QueryParams& params, int n, const std::string& name,
                const std::vector<std::string>& values) {
  std::string p = "Filter." + std::to_string(n);
  params.emplace_back(p + ".Name", name);
  add_list(params, p + ".Value", values);
}

// application/x-www-form-urlencoded as botocore (urlencode) writes it:
// unreserved characters as they are, space as '+', every other byte %XX.
// EC2 hashes the body as sent and takes any correct encoding; writing the
// reference SDK's bytes also satisfies servers that re-encode the parsed
// form before they check the signature (moto).
void form_encode(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

std::string form_body(std::string_view action, const QueryParams& params, std::string_view version) {
  std::string body = "Action=";
  form_encode(body, action);
  body += "&Version=";
  body += version;
  for (const auto& [k, v] : params) {
    body += '&';
    form_encode(body, k);
    body += '=';
    form_encode(body, v);
  }
  return body;
}

bool is_refusal_of_credentials(std::string_view c, int status) {
  return status == 401 || c == "ExpiredToken" || c == "ExpiredTokenException" ||
         c == "AuthFailure" || c == "InvalidClientTokenId" || c == "UnrecognizedClientException";
}

Client::Client(HttpTransport& transport, ClientOptions options)
    : transport_(transport), options_(std::move(options)) {
  if (!options_.credentials)
    throw Error(ErrorCode::invalid_argument, "EC2 client: no credentials source");
  if (!options_.now) options_.now = real_wall_clock();
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
}

HttpRequest Client::build(const std::string& body, const AwsCredentials& creds) {
  auto url = options_.endpoint + "/";
  sigv4::Request r = sigv4::request_from_url("POST", url);
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  r.body = body;
  sigv4::SigningOptions so;
  so.service = options_.service;
  so.region = options_.region;
  auto now = options_.now() + std::chrono::seconds(offset_.load());
  auto signed_req = sigv4::sign(r, creds, so, now, &keys_);
  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = std::move(signed_req.headers);
  req.body = body;
  return req;
}

std::string Client::call(std::string_view action, const QueryParams& params,
                         const CancelToken& cancel) {
  return std::move(exchange(action, params, nullptr, cancel).body);
}

void Client::call_streaming(std::string_view action, const QueryParams& params,
                            const HttpBodySink& consumer, const CancelToken& cancel) {
  HttpResponse resp = exchange(action, params, &consumer, cancel);
  if (!resp.body_streamed && !resp.body.empty()) consumer.write(resp.body);
}

HttpResponse Client::exchange(std::string_view action, const QueryParams& params,
                              const HttpBodySink* sink, const CancelToken& cancel) {
  const std::string body = form_body(action, params, options_.api_version);
  AwsCredentials creds = options_.credentials->get(cancel);
  bool clock_corrected = false;
  bool refreshed = false;
  for (;;) {
    HttpRequest request = build(body, creds);
    if (sink) request.body_sink = *sink;
    HttpResponse resp = transport_.send(request, cancel);
    if (resp.status >= 200 && resp.status < 300) return resp;
    auto info = parse_error(resp.body);
    ErrorInfo e = info ? *info : ErrorInfo{};
    if (e.code.empty()) e.code = "HTTP" + std::to_string(resp.status);
    if (e.request_id.empty())
      if (auto h = resp.header("x-amzn-RequestId")) e.request_id = *h;
    // The clock first: EC2 answers AuthFailure to a signature from a skewed
    // clock too, and the Date header tells the two apart.
    if (!clock_corrected && is_skew_code(e.code)) {
      if (auto date = resp.header("Date")) {
        auto local = options_.now() + std::chrono::seconds(offset_.load());
        if (auto skew = sigv4::clock_skew(*date, local);
            skew && (*skew >= kSkewWorthCorrecting || *skew <= -kSkewWorthCorrecting)) {
          offset_ += skew->count();
          clock_corrected = true;
          continue;
        }
      }
    }
    // botocore only refreshes ahead of the expiry and never after a refusal;
    // but instance-role credentials can be rotated or revoked early, and a
    // key rotated in a profile file is only seen when the chain runs again.
    // AuthFailure is EC2's word for every credentials refusal (an unknown
    // key, a bad or expired session token), so it asks for a refresh as well;
    // the call is sent again only when the source handed out different
    // credentials, so static keys that are simply wrong cost a re-read of the
    // chain, not another request.
    bool refusal = is_refusal_of_credentials(e.code, resp.status);
    std::string refusal_note;
    if (refusal && !refreshed) {
      refreshed = true;
      try {
        AwsCredentials fresh = options_.credentials->refresh(creds, cancel);
        if (!(fresh == creds)) {
          creds = std::move(fresh);
          continue;
        }
        refusal_note = "; a refresh returned the same ones";
      } catch (const Error& failure) {
        if (failure.code() == ErrorCode::cancelled) throw;
        refusal_note = std::string("; refreshing them failed: ") + failure.what();
      }
    } else if (refusal) {
      refusal_note = ", refused again after a refresh";
    }
    std::string msg = options_.label + " " + std::string(action) + ": " + e.code;
    if (!e.message.empty()) msg += ": " + e.message;
    if (!e.request_id.empty()) msg += " (request id " + e.request_id + ")";
    if (resp.attempts > 1) msg += " after " + std::to_string(resp.attempts) + " attempts";
    if (refusal) msg += " (credentials from " + creds.source + refusal_note + ")";
    // The body is the server's text: an endpoint that echoes the request's
    // headers would otherwise put the signature and session token into every
    // message, event and terminal this error reaches.
    throw Ec2Error(refusal ? ErrorCode::auth : error_code_for(e.code, resp.status), redact(msg),
                   refusal ? false : is_retryable(e.code, resp.status), e.request_id, e.code);
  }
}

}  // namespace raycluster::detail::ec2
