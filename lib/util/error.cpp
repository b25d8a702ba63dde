#include "util/error.hpp"

namespace raycluster {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::config: return "config";
    case ErrorCode::io: return "io";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::auth: return "auth";
    case ErrorCode::throttled: return "throttled";
    case ErrorCode::capacity: return "capacity";
    case ErrorCode::quota: return "quota";
    case ErrorCode::invalid_request: return "invalid_request";
    case ErrorCode::command_failed: return "command_failed";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::internal: return "internal";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::conflict: return "conflict";
  }
  return "unknown";
}

}  // namespace raycluster
