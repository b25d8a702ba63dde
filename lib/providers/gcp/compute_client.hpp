// Compute Engine v1 REST calls: URLs under one project, bearer tokens from a
// CredentialsSource, JSON answers, typed errors, and operation waits.
//
// Every request goes through the transport given (the provider's
// RetryingTransport with the classifiers below), so throttling and 5xx are
// retried there, once. A 401 asks the credentials source for one refresh and
// the request is sent once more with the new token.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credentials.hpp"
#include "http/http.hpp"
#include "util/error.hpp"
#include "util/value.hpp"

namespace raycluster::detail::gce {

inline constexpr const char* kDefaultEndpoint = "https://compute.googleapis.com/compute/v1/";

// An error answer of Compute, or an error on a finished operation.
class GceError : public Error {
 public:
  GceError(ErrorCode code, const std::string& message, bool retryable, int status, std::string reason)
      : Error(code, message, retryable), status_(status), reason_(std::move(reason)) {}
  int status() const noexcept { return status_; }  // HTTP status; 0 for an operation's error
  // "quotaExceeded", "notFound", "conditionNotMet", ... or an operation's
  // code ("ZONE_RESOURCE_POOL_EXHAUSTED", "QUOTA_EXCEEDED", ...).
  const std::string& reason() const noexcept { return reason_; }

 private:
  int status_;
  std::string reason_;
};

// The category of an error reason or operation error code (the HTTP status
// for reasons not known).
ErrorCode error_code_for(std::string_view reason, int http_status);
// Operation error codes after which another zone may still have room.
bool is_capacity_code(std::string_view code);
// Throttling signalled by a 403 body (rateLimitExceeded, userRateLimitExceeded)
// or RESOURCE_OPERATION_RATE_EXCEEDED in any error answer: Compute's
// RetryPolicy::is_throttle.
bool is_throttle_response(const HttpResponse& response);
// The first reason of an error answer's body ("" when none).
std::string error_reason(std::string_view body);

// Percent-encoding of a query value (RFC 3986 unreserved kept).
std::string query_encode(std::string_view s);
// A UUID (8-4-4-4-12, version 4 layout) derived from `seed`: Compute's
// requestId, the same for the same seed.
std::string uuid_from(std::string_view seed);

struct ClientOptions {
  std::string endpoint = kDefaultEndpoint;  // ends with "/"; ".../compute/v1/"
  std::string project;
  std::shared_ptr<CredentialsSource<std::string>> credentials;  // required
  WallClock now;    // operation deadlines; default the system clock
  Sleeper sleep;    // between operation polls that answer at once; default real
  std::chrono::milliseconds operation_timeout{std::chrono::minutes(15)};
  // The API's name in error messages (IAM and Resource Manager share this client).
  std::string api = "Compute";
};

class Client {
 public:
  Client(HttpTransport& transport, ClientOptions options);

  // `path` is relative to projects/<project>/ ("zones/z/instances?x=y"; a
  // custom method of the project itself starts with ':'). Returns the parsed 2xx answer
  // (an empty object for an empty body). Throws GceError for an error
  // answer and the transport's Error when none came.
  Value call(const std::string& method, const std::string& path, const Value* body = nullptr,
             const CancelToken& cancel = {});
  // As call(), the 2xx body as text.
  std::string call_text(const std::string& method, const std::string& path,
                        const Value* body = nullptr, const CancelToken& cancel = {});

  // Waits for an operation (as call() returned it) to be DONE, calling its
  // wait method again until then or until the operation timeout; `progress`
  // (may be empty) gets each answer. Returns the DONE operation; throws
  // GceError for its first error (code as reason, every error in the
  // message), Error(timeout) when it is not done in time.
  Value wait(const Value& operation, const std::function<void(const Value&)>& progress = {},
             const CancelToken& cancel = {});

  const std::string& endpoint() const { return options_.endpoint; }
  const std::string& project() const { return options_.project; }
  const std::shared_ptr<CredentialsSource<std::string>>& credentials() const {
    return options_.credentials;
  }
  std::string url(const std::string& path) const;

 private:
  HttpResponse exchange(const std::string& method, const std::string& path, const Value* body,
                        const CancelToken& cancel);

  HttpTransport& transport_;
  ClientOptions options_;
};

// The errors of a DONE operation as one GceError (nullopt when it has none).
std::optional<GceError> operation_error(const Value& operation);

}  // namespace raycluster::detail::gce
