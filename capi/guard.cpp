#include "guard.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "http/http.hpp"
#include "spec/spec.hpp"
#include "util/error.hpp"

namespace raycluster::capi {
namespace {

struct LastError {
  ErrorDetail detail;
  rc_error view{};

  void sync() {
    view.code = detail.code;
    view.category = detail.category.c_str();
    view.message = detail.message.c_str();
    view.request_id = detail.request_id.c_str();
    view.retryable = detail.retryable ? 1 : 0;
    view.file = detail.file.c_str();
    view.line = detail.line;
    view.column = detail.column;
    view.key = detail.key.c_str();
  }
};

thread_local LastError t_error;

}  // namespace

ErrorDetail detail_of_current_exception() noexcept {
  ErrorDetail d;
  try {
    try {
      throw;
    } catch (const ConfigError& e) {
      d.code = RC_E_CONFIG;
      d.category = "config";
      d.message = e.what();
      if (!e.diagnostics().empty()) {
        const auto& first = e.diagnostics().front();
        d.file = first.where.file;
        d.line = first.where.line;
        d.column = first.where.column;
        d.key = first.key_path;
      }
    } catch (const Error& e) {
      d.code = static_cast<rc_status>(e.code());
      d.category = error_code_name(e.code());
      d.message = e.what();
      d.retryable = e.retryable();
      d.request_id = e.request_id();
    } catch (const std::bad_alloc&) {
      d = ErrorDetail{};
      d.code = RC_E_INTERNAL;
      d.category = "internal";
      d.message = "out of memory";
    } catch (const std::exception& e) {
      d.code = RC_E_INTERNAL;
      d.category = "internal";
      d.message = e.what();
    } catch (...) {
      d.code = RC_E_INTERNAL;
      d.category = "internal";
      d.message = "unknown exception";
    }
  } catch (...) {  // copying a message can itself fail
    d = ErrorDetail{};
    d.code = RC_E_INTERNAL;
    d.category = "internal";
  }
  return d;
}

rc_status set_last_error(const ErrorDetail& d) {
  t_error.detail = d;
  // Whatever a message quotes (a server's answer, a header), a host program
  // may log it: secrets never leave through rc_last_error().
  try {
    t_error.detail.message = redact(d.message);
  } catch (...) {
    t_error.detail.message = "(the message could not be redacted)";
  }
  t_error.sync();
  return d.code;
}

rc_status set_error(rc_status code, const char* category, std::string message) {
  ErrorDetail d;
  d.code = code;
  d.category = category;
  d.message = std::move(message);
  return set_last_error(d);
}

rc_status invalid(std::string what) {
  return set_error(RC_E_INVALID_ARGUMENT, "invalid_argument", std::move(what));
}

void reset_last_error() {
  t_error.detail = ErrorDetail{};
  t_error.sync();
}

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

}  // namespace raycluster::capi

extern "C" {

const rc_error* rc_last_error(void) {
  using raycluster::capi::t_error;
  if (!t_error.view.message) t_error.sync();
  return &t_error.view;
}

}  // extern "C"
