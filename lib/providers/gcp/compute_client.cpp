#include "providers/gcp/compute_client.hpp"

#include <optional>

#include "util/hash.hpp"

namespace raycluster::detail::gce {
namespace {

std::string str(const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); }

struct ErrorInfo {
  int code = 0;
  std::string message;
  std::string reason;
};

std::optional<ErrorInfo> parse_error(std::string_view body) {
  if (body.empty() || body.size() > (1u << 20)) return std::nullopt;
  try {
    Value v = Value::parse_json(body);
    const Value* e = v.find("error");
    if (!e || !e->is_object()) return std::nullopt;
    ErrorInfo info;
    if (const Value* c = e->find("code"); c && c->is_integer()) info.code = static_cast<int>(c->as_int());
    info.message = str(e->find("message"));
    if (const Value* errs = e->find("errors"); errs && errs->is_array() && errs->size() > 0)
      info.reason = str(errs->as_array()[0].find("reason"));
    if (info.reason.empty()) info.reason = str(e->find("status"));
    return info;
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

ErrorCode error_code_for(std::string_view r, int status) {
  if (r == "rateLimitExceeded" || r == "userRateLimitExceeded" ||
      r == "RESOURCE_OPERATION_RATE_EXCEEDED" || r == "RATE_LIMIT_EXCEEDED")
    return ErrorCode::throttled;
  if (is_capacity_code(r)) return ErrorCode::capacity;
  if (r == "quotaExceeded" || r == "QUOTA_EXCEEDED" || r == "limitExceeded") return ErrorCode::quota;
  if (r == "notFound" || r == "RESOURCE_NOT_FOUND" || r == "NOT_FOUND") return ErrorCode::not_found;
  if (r == "alreadyExists" || r == "RESOURCE_ALREADY_EXISTS" || r == "conditionNotMet" ||
      r == "resourceInUseByAnotherResource" || r == "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")
    return ErrorCode::conflict;
  if (r == "authError" || r == "forbidden" || r == "accessNotConfigured" ||
      r == "PERMISSION_DENIED" || r == "UNAUTHENTICATED")
    return ErrorCode::auth;
  if (r == "backendError" || r == "internalError") return ErrorCode::unavailable;
  if (status == 404) return ErrorCode::not_found;
  if (status == 409 || status == 412) return ErrorCode::conflict;
  if (status == 429) return ErrorCode::throttled;
  if (status == 401 || status == 403) return ErrorCode::auth;
  if (status >= 500) return ErrorCode::unavailable;
  return ErrorCode::invalid_request;
}

bool is_capacity_code(std::string_view c) {
  return c == "ZONE_RESOURCE_POOL_EXHAUSTED" || c == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" ||
         c == "VM_MIN_COUNT_NOT_REACHED" || c == "RESOURCE_NOT_READY" || c == "resourceNotReady" ||
         c == "STOCKOUT";
}

bool is_throttle_response(const HttpResponse& response) {
  if (response.status < 400) return false;
  if (response.body.find("RESOURCE_OPERATION_RATE_EXCEEDED") != std::string::npos) return true;
  if (response.status != 403) return false;
  std::string r = error_reason(response.body);
  return r == "rateLimitExceeded" || r == "userRateLimitExceeded";
}

std::string error_reason(std::string_view body) {
  auto info = parse_error(body);
  return info ? info->reason : std::string();
}

std::string query_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string uuid_from(std::string_view seed) {
  std::string h = sha256_hex(seed).substr(0, 32);
  h[12] = '4';  // version 4 layout
  h[16] = "89ab"[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

std::optional<GceError> operation_error(const Value& op) {
  const Value* e = op.find("error");
  const Value* errs = e ? e->find("errors") : nullptr;
  if (!errs || !errs->is_array() || errs->size() == 0) return std::nullopt;
  std::string first, msg;
  for (const auto& x : errs->as_array()) {
    std::string code = str(x.find("code"));
    if (first.empty()) first = code;
    if (!msg.empty()) msg += "; ";
    msg += code + ": " + str(x.find("message"));
  }
  const ErrorCode ec = error_code_for(first, 0);
  const bool retryable = ec == ErrorCode::capacity || ec == ErrorCode::throttled ||
                         ec == ErrorCode::unavailable;
  return GceError(ec,
                  "operation " + str(op.find("name")) + " (" + str(op.find("operationType")) + " " +
                      str(op.find("targetLink")) + ") failed: " + redact(msg),
                  retryable, 0, first);
}

Client::Client(HttpTransport& transport, ClientOptions options)
    : transport_(transport), options_(std::move(options)) {
  if (!options_.credentials) throw Error(ErrorCode::invalid_argument, "Compute client: no credentials source");
  if (!options_.now) options_.now = real_wall_clock();
  if (!options_.sleep) options_.sleep = real_sleeper();
  if (options_.endpoint.empty()) options_.endpoint = kDefaultEndpoint;
  if (options_.endpoint.back() != '/') options_.endpoint += '/';
}

std::string Client::url(const std::string& path) const {
  const std::string sep = !path.empty() && path.front() == ':' ? "" : "/";
  return options_.endpoint + "projects/" + options_.project + sep + path;
}

HttpResponse Client::exchange(const std::string& method, const std::string& path,
                              const Value* body, const CancelToken& cancel) {
  HttpRequest req;
  req.method = method;
  req.url = url(path);
  if (body) {
    req.body = body->to_json();
    req.headers.emplace_back("Content-Type", "application/json");
  }
  std::string token = options_.credentials->get(cancel);
  bool refreshed = false;
  for (;;) {
    HttpRequest r = req;
    r.headers.emplace_back("Authorization", "Bearer " + token);
    HttpResponse resp = transport_.send(r, cancel);
    if (resp.status >= 200 && resp.status < 300) return resp;
    auto info = parse_error(resp.body).value_or(ErrorInfo{});
    std::string note;
    if (resp.status == 401 && !refreshed) {
      refreshed = true;
      try {
        std::string fresh = options_.credentials->refresh(token, cancel);
        if (fresh != token) {
          token = std::move(fresh);
          continue;
        }
        note = "; a refresh returned the same token";
      } catch (const Error& failure) {
        if (failure.code() == ErrorCode::cancelled) throw;
        note = std::string("; refreshing it failed: ") + failure.what();
      }
    } else if (resp.status == 401) {
      note = ", refused again after a refresh";
    }
    std::string reason = info.reason.empty() ? "HTTP" + std::to_string(resp.status) : info.reason;
    std::string msg = options_.api + " " + method + " " + path.substr(0, path.find('?')) + ": HTTP " +
                      std::to_string(resp.status) + " " + reason;
    if (!info.message.empty()) msg += ": " + info.message;
    if (resp.attempts > 1) msg += " after " + std::to_string(resp.attempts) + " attempts";
    if (resp.status == 401) msg += " (access token refused" + note + ")";
    ErrorCode code = resp.status == 401 ? ErrorCode::auth : error_code_for(reason, resp.status);
    bool retryable = code == ErrorCode::throttled || code == ErrorCode::unavailable ||
                     code == ErrorCode::capacity;
    throw GceError(code, redact(msg), retryable, resp.status, reason);
  }
}

Value Client::call(const std::string& method, const std::string& path, const Value* body,
                   const CancelToken& cancel) {
  HttpResponse resp = exchange(method, path, body, cancel);
  if (resp.body.empty()) return Value::object();
  return Value::parse_json(resp.body);
}

std::string Client::call_text(const std::string& method, const std::string& path,
                              const Value* body, const CancelToken& cancel) {
  return std::move(exchange(method, path, body, cancel).body);
}

Value Client::wait(const Value& operation, const std::function<void(const Value&)>& progress,
                   const CancelToken& cancel) {
  Value op = operation;
  const auto deadline = options_.now() + options_.operation_timeout;
  std::chrono::milliseconds pause(500);
  for (;;) {
    if (progress) progress(op);
    if (str(op.find("status")) == "DONE") {
      if (auto e = operation_error(op)) throw *e;
      return op;
    }
    if (options_.now() >= deadline)
      throw Error(ErrorCode::timeout, "operation " + str(op.find("name")) + " (" +
                                          str(op.find("operationType")) +
                                          ") is not done after the operation timeout",
                  true);
    // Built from the name and scope, never from the answer's selfLink: the
    // token goes only to the configured endpoint.
    std::string self;
    const std::string name = query_encode(str(op.find("name")));
    const std::string zone = str(op.find("zone"));
    const std::string region = str(op.find("region"));
    if (!zone.empty())
      self = "zones/" + query_encode(zone.substr(zone.rfind('/') + 1)) + "/operations/" + name;
    else if (!region.empty())
      self = "regions/" + query_encode(region.substr(region.rfind('/') + 1)) + "/operations/" + name;
    else
      self = "global/operations/" + name;
    auto before = options_.now();
    op = call("POST", self + "/wait", nullptr, cancel);
    // wait answers within about two minutes, DONE or not; an answer that
    // came back at once and not DONE is asked again after a pause.
    if (str(op.find("status")) != "DONE" && options_.now() - before < pause) {
      if (!options_.sleep(pause, cancel)) throw Error(ErrorCode::cancelled, "cancelled");
      pause = std::min(pause * 2, std::chrono::milliseconds(5000));
    }
  }
}

}  // namespace raycluster::detail::gce
