// raycluster: typed errors of the C++ API.
//
// Every failure the library reports is a raycluster::Error (or a subclass).
// The category maps one to one onto the C ABI's rc_status codes, so the
// boundary in capi/ can translate without losing detail.
#pragma once

#include <stdexcept>
#include <string>

namespace raycluster {

// Values are the C ABI's rc_status codes; never renumber, only append.
enum class ErrorCode : int {
  invalid_argument = -1,  // a caller passed something unusable
  config = -2,            // the cluster config is invalid (see ConfigError)
  io = -3,                // a local file or process operation failed
  cancelled = -4,         // the operation's CancelToken fired
  timeout = -5,           // a deadline passed
  not_found = -6,         // a node, cluster or resource does not exist
  auth = -7,              // credentials missing or rejected
  throttled = -8,         // the cloud asked us to slow down
  capacity = -9,          // the cloud has no capacity (in a zone)
  quota = -10,            // an account limit was reached
  invalid_request = -11,  // the cloud rejected a request as malformed
  command_failed = -12,   // a command on a node exited non-zero
  unavailable = -13,      // a service could not be reached
  internal = -14,         // a bug in raycluster
  unsupported = -15,      // the provider cannot do this
  conflict = -16,         // another operation holds the cluster
};

// The name of a code, e.g. "config"; stable, used in JSON output.
const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, bool retryable = false,
        std::string request_id = {})
      : std::runtime_error(message),
        code_(code),
        retryable_(retryable),
        request_id_(std::move(request_id)) {}

  ErrorCode code() const noexcept { return code_; }
  // True when repeating the same call later may succeed.
  bool retryable() const noexcept { return retryable_; }
  // The cloud's request id, when a cloud call failed; empty otherwise.
  const std::string& request_id() const noexcept { return request_id_; }

 private:
  ErrorCode code_;
  bool retryable_;
  std::string request_id_;
};

}  // namespace raycluster
