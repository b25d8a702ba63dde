// The boundary of the C ABI: the thread's last error and the guard that
// turns every exception into an rc_status. Internal to capi/.
#pragma once

#include <exception>
#include <string>

#include "raycluster/raycluster.h"

namespace raycluster::capi {

// Everything rc_error carries, owned.
struct ErrorDetail {
  rc_status code = RC_OK;
  std::string category = "ok";
  std::string message;
  std::string request_id;
  bool retryable = false;
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;
};

// The detail of the exception being handled (call inside a catch block).
ErrorDetail detail_of_current_exception() noexcept;

// Makes `d` the calling thread's last error and returns its code.
rc_status set_last_error(const ErrorDetail& d);
rc_status set_error(rc_status code, const char* category, std::string message);
rc_status invalid(std::string what);
void reset_last_error();

char* dup_string(const std::string& s);

template <class Fn>
rc_status guard(Fn&& fn) noexcept {
  try {
    reset_last_error();
    return fn();
  } catch (...) {
    try {
      return set_last_error(detail_of_current_exception());
    } catch (...) {
      return RC_E_INTERNAL;
    }
  }
}

}  // namespace raycluster::capi
