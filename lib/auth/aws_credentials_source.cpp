#include "auth/aws_credentials_source.hpp"

#include <rapidjson/document.h>

#include <cctype>
#include <cstring>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace raycluster {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
constexpr std::size_t kMaxTokenBytes = 16 * 1024;
constexpr std::size_t kMaxRoleNameBytes = 128;

std::optional<std::string> env_value(const AwsEnvironment& env, const std::string& name) {
  if (!env.getenv) return std::nullopt;
  auto v = env.getenv(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// botocore's ContainerMetadataFetcher._validate_allowed_url.
void check_container_url(const std::string& url) {
  if (lower(url).rfind("https://", 0) == 0) return;
  auto host = url_host(url);
  if (lower(url).rfind("http://", 0) == 0 && !host.empty()) {
    if (is_loopback_address(host)) return;
    for (const char* allowed : {"169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"})
      if (host == allowed) return;
  }
  throw Error(ErrorCode::auth,
              "AWS_CONTAINER_CREDENTIALS_FULL_URI " + url +
                  ": container credentials are fetched over https, or over http only from a "
                  "loopback address or 169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost");
}

std::string json_string(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

// The credentials in a metadata answer; throws Error(auth) naming what is
// wrong, never quoting the body (it holds the secret).
Expiring<AwsCredentials> parse_credentials_answer(const std::string& body, const std::string& source) {
  if (body.size() > kMaxAnswerBytes)
    throw Error(ErrorCode::auth, source + ": answer larger than " +
                                     std::to_string(kMaxAnswerBytes) + " bytes");
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw Error(ErrorCode::auth, source + ": the answer is not a JSON object");
  Expiring<AwsCredentials> out;
  out.value.access_key_id = json_string(doc, "AccessKeyId");
  out.value.secret_access_key = json_string(doc, "SecretAccessKey");
  out.value.session_token = json_string(doc, "Token");
  out.value.source = source;
  auto expiration = json_string(doc, "Expiration");
  std::vector<std::string> missing;
  if (out.value.access_key_id.empty()) missing.push_back("AccessKeyId");
  if (out.value.secret_access_key.empty()) missing.push_back("SecretAccessKey");
  if (out.value.session_token.empty()) missing.push_back("Token");
  if (expiration.empty()) missing.push_back("Expiration");
  if (!missing.empty()) {
    std::string msg = source + ": the answer lacks " + detail::join(missing, ", ");
    // IMDS answers 200 with {"Code": ..., "Message": ...} when the role cannot be assumed.
    auto code = json_string(doc, "Code");
    if (!code.empty()) msg += " (Code " + code.substr(0, 100) + ")";
    throw Error(ErrorCode::auth, msg);
  }
  out.expires_at = detail::parse_iso8601(expiration);
  if (!out.expires_at)
    throw Error(ErrorCode::auth, source + ": Expiration " + expiration.substr(0, 64) +
                                     " is not an ISO 8601 time");
  return out;
}

RetryingTransport::Deps retry_deps(Sleeper sleep, WallClock now) {
  RetryingTransport::Deps d;
  d.sleep = std::move(sleep);
  d.now = std::move(now);
  // Fixed waits (base_delay itself), as botocore's fetchers wait.
  d.random = [] { return 1.0; };
  return d;
}

std::string container_token(const AwsEnvironment& env) {
  std::string token;
  if (auto file = env_value(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    try {
      token = detail::read_file(*file, kMaxTokenBytes);
    } catch (const Error& e) {
      throw Error(ErrorCode::auth,
                  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + *file + ": " + e.what());
    }
  } else if (auto t = env_value(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    token = *t;
  } else {
    return {};
  }
  // As botocore: taken as it is, and refused when it cannot be a header value.
  if (token.find_first_of("\r\n") != std::string::npos)
    throw Error(ErrorCode::auth,
                "the container authorization token contains a line break, so it cannot be sent "
                "as a header value");
  return token;
}

int env_int(const AwsEnvironment& env, const char* name, int def, int lo, int hi) {
  auto v = env_value(env, name);
  if (!v) return def;
  try {
    std::size_t used = 0;
    int n = std::stoi(*v, &used);
    if (used == v->size() && n >= lo && n <= hi) return n;
  } catch (const std::exception&) {
  }
  throw Error(ErrorCode::auth, std::string(name) + "=" + *v + " is not a whole number from " +
                                   std::to_string(lo) + " to " + std::to_string(hi));
}

std::string imds_base(const AwsEnvironment& env) {
  auto base = env_value(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  if (base.back() != '/') base += '/';
  return base;
}

bool valid_role_name(const std::string& role) {
  if (role.empty() || role.size() > kMaxRoleNameBytes) return false;
  for (unsigned char c : role)
    if (!std::isalnum(c) && !std::strchr("+=,.@_-", c)) return false;
  return true;
}

}  // namespace

namespace detail {

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view s) {
  auto digits = [&](std::size_t pos, std::size_t n) -> std::optional<int> {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
       mi = digits(14, 2), sec = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(*y), std::chrono::month(static_cast<unsigned>(*mo)),
                                  std::chrono::day(static_cast<unsigned>(*d))};
  // system_clock counts nanoseconds in 64 bits: years past 2262 overflow it.
  if (!ymd.ok() || *y < 1970 || *y > 2200 || *h > 23 || *mi > 59 || *sec > 60) return std::nullopt;
  std::size_t pos = 19;
  milliseconds fraction{0};
  if (pos < s.size() && s[pos] == '.') {
    std::size_t start = ++pos;
    int scale = 100;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      fraction += milliseconds((s[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return std::nullopt;
  }
  seconds offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(pos + 1, 2), om = digits(pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset = seconds((*oh * 60 + *om) * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::chrono::system_clock::time_point t = std::chrono::sys_days(ymd);
  return t + std::chrono::hours(*h) + std::chrono::minutes(*mi) + seconds(*sec) + fraction - offset;
}

}  // namespace detail

std::optional<Expiring<AwsCredentials>> fetch_container_credentials(
    const AwsEnvironment& env, HttpTransport& transport, WallClock now, Sleeper sleep,
    const CancelToken& cancel) {
  std::string url;
  if (auto relative = env_value(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    url = "http://169.254.170.2" + *relative;
  } else if (auto full = env_value(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    url = *full;
    check_container_url(url);
  } else {
    return std::nullopt;
  }
  const std::string source = "container credentials " + url;
  HttpRequest req;
  req.method = "GET";
  req.url = url;
  req.headers.emplace_back("Accept", "application/json");
  if (auto token = container_token(env); !token.empty())
    req.headers.emplace_back("Authorization", token);
  req.timeout = seconds(2);
  req.connect_timeout = seconds(2);
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.base_delay = seconds(1);
  policy.max_delay = seconds(1);
  policy.budget = seconds(10);
  policy.is_throttle = [](const HttpResponse& r) { return r.status != 200; };
  RetryingTransport retrying(transport, policy, retry_deps(std::move(sleep), now));
  HttpResponse resp;
  try {
    resp = retrying.send(req, cancel);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) throw;
    throw Error(ErrorCode::auth, source + ": " + redact(e.what()));
  }
  if (resp.status != 200)
    throw Error(ErrorCode::auth, source + ": HTTP " + std::to_string(resp.status) + " after " +
                                     std::to_string(resp.attempts) + " attempts");
  return parse_credentials_answer(resp.body, source);
}

std::optional<Expiring<AwsCredentials>> fetch_instance_metadata_credentials(
    const AwsEnvironment& env, HttpTransport& transport, WallClock now, const CancelToken& cancel,
    std::string* why) {
  auto not_found = [&](std::string reason) -> std::optional<Expiring<AwsCredentials>> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (lower(env_value(env, "AWS_EC2_METADATA_DISABLED").value_or("")) == "true")
    return not_found("disabled by AWS_EC2_METADATA_DISABLED");
  const std::string base = imds_base(env);
  const seconds timeout(env_int(env, "AWS_METADATA_SERVICE_TIMEOUT", 1, 1, 60));
  const int attempts = env_int(env, "AWS_METADATA_SERVICE_NUM_ATTEMPTS", 1, 1, 10);

  // botocore retries the token PUT unless the answer is final (200, 400, or
  // 403/404/405: IMDSv2 turned off), and the GETs until a non-empty 200.
  auto send = [&](HttpRequest req, std::function<bool(const HttpResponse&)> retry) {
    req.timeout = timeout;
    req.connect_timeout = timeout;
    RetryPolicy policy;
    policy.max_attempts = attempts;
    policy.base_delay = milliseconds(0);
    policy.budget = seconds(10);
    policy.is_throttle = std::move(retry);
    RetryingTransport retrying(transport, policy, retry_deps({}, now));
    return retrying.send(req, cancel);
  };
  try {
    HttpRequest token_req;
    token_req.method = "PUT";
    token_req.url = base + "latest/api/token";
    token_req.headers.emplace_back("x-aws-ec2-metadata-token-ttl-seconds", "21600");
    auto token = send(token_req, [](const HttpResponse& r) {
      return r.status != 200 && r.status != 400 && r.status != 403 && r.status != 404 &&
             r.status != 405;
    });
    if (token.status != 200 || token.body.empty() || token.body.size() > kMaxTokenBytes)
      return not_found("the IMDSv2 token request " + token_req.url + " answered HTTP " +
                       std::to_string(token.status));
    if (token.body.find_first_of("\r\n") != std::string::npos)
      return not_found("the IMDSv2 token is not a header value");

    auto get = [&](const std::string& path) {
      HttpRequest req;
      req.method = "GET";
      req.url = base + path;
      req.headers.emplace_back("x-aws-ec2-metadata-token", token.body);
      return send(req, [](const HttpResponse& r) { return r.status != 200 || r.body.empty(); });
    };
    const std::string roles_path = "latest/meta-data/iam/security-credentials/";
    auto roles = get(roles_path);
    if (roles.status != 200 || roles.body.empty())
      return not_found(base + roles_path + " answered HTTP " + std::to_string(roles.status) +
                       (roles.status == 200 ? " with no role" : ""));
    const std::string role = roles.body;
    if (!valid_role_name(role))
      return not_found(base + roles_path + " answered with no usable IAM role name");
    auto creds = get(roles_path + role);
    if (creds.status != 200 || creds.body.empty())
      return not_found(base + roles_path + role + " answered HTTP " + std::to_string(creds.status));
    try {
      return parse_credentials_answer(creds.body, "instance metadata role " + role);
    } catch (const Error& e) {
      return not_found(e.what());
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) throw;
    return not_found(base + ": " + redact(e.what()));
  }
}

Expiring<AwsCredentials> fetch_aws_credentials(const AwsEnvironment& env, HttpTransport& transport,
                                               WallClock now, Sleeper sleep,
                                               const AwsCredentialsSourceOptions& options,
                                               const CancelToken& cancel) {
  std::vector<std::string> tried;
  if (auto c = find_static_aws_credentials(env, options.profile, tried)) return {*c, std::nullopt};
  if (auto c = fetch_container_credentials(env, transport, now, sleep, cancel)) return *c;
  tried.push_back(
      "container credentials (neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor "
      "AWS_CONTAINER_CREDENTIALS_FULL_URI is set)");
  std::string why;
  if (auto c = fetch_instance_metadata_credentials(env, transport, now, cancel, &why)) return *c;
  tried.push_back("instance metadata (" + why + ")");
  throw Error(ErrorCode::auth, "no AWS credentials found for profile \"" +
                                   resolve_aws_profile(env, options.profile) +
                                   "\"; tried: " + detail::join(tried, "; "));
}

std::shared_ptr<CredentialsSource<AwsCredentials>> make_aws_credentials_source(
    const AwsEnvironment& env, HttpTransport& transport, WallClock now, Sleeper sleep,
    AwsCredentialsSourceOptions options) {
  if (!now) now = real_wall_clock();
  auto refresh = options.refresh;
  auto fetch = [env, &transport, now, sleep = std::move(sleep),
                options = std::move(options)](const CancelToken& cancel) {
    return fetch_aws_credentials(env, transport, now, sleep, options, cancel);
  };
  return std::make_shared<RefreshingCredentials<AwsCredentials>>(std::move(fetch), now, refresh);
}

}  // namespace raycluster
