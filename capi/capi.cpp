// The C ABI: a thin shim over the C++ API. Every entry point runs inside
// guard(), which resets the thread's last error and turns any exception into
// an rc_status, so nothing thrown ever crosses the boundary.
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "raycluster/error.hpp"
#include "raycluster/raycluster.h"
#include "raycluster/spec.hpp"

struct rc_spec {
  raycluster::ClusterSpec spec;
};

namespace {

struct LastError {
  rc_error view{};
  std::string category = "ok";
  std::string message;
  std::string request_id;
  std::string file;
  std::string key;

  void reset() {
    category = "ok";
    message.clear();
    request_id.clear();
    file.clear();
    key.clear();
    view = rc_error{};
    view.code = RC_OK;
    sync();
  }
  void sync() {
    view.category = category.c_str();
    view.message = message.c_str();
    view.request_id = request_id.c_str();
    view.file = file.c_str();
    view.key = key.c_str();
  }
};

thread_local LastError t_error;

rc_status set_error(rc_status code, const char* category, std::string message,
                    bool retryable = false, std::string request_id = {}) {
  t_error.view.code = code;
  t_error.category = category;
  t_error.message = std::move(message);
  t_error.request_id = std::move(request_id);
  t_error.view.retryable = retryable ? 1 : 0;
  t_error.sync();
  return code;
}

template <class Fn>
rc_status guard(Fn&& fn) noexcept {
  try {
    t_error.reset();
    return fn();
  } catch (const raycluster::ConfigError& e) {
    const auto& d = e.diagnostics();
    set_error(RC_E_CONFIG, "config", e.what());
    if (!d.empty()) {
      t_error.file = d.front().where.file;
      t_error.key = d.front().key_path;
      t_error.view.line = d.front().where.line;
      t_error.view.column = d.front().where.column;
      t_error.sync();
    }
    return RC_E_CONFIG;
  } catch (const raycluster::Error& e) {
    return set_error(static_cast<rc_status>(e.code()), raycluster::error_code_name(e.code()),
                     e.what(), e.retryable(), e.request_id());
  } catch (const std::bad_alloc&) {
    return set_error(RC_E_INTERNAL, "internal", "out of memory");
  } catch (const std::exception& e) {
    return set_error(RC_E_INTERNAL, "internal", e.what());
  } catch (...) {
    return set_error(RC_E_INTERNAL, "internal", "unknown exception");
  }
}

rc_status invalid(const char* what) { return set_error(RC_E_INVALID_ARGUMENT, "invalid_argument", what); }

char* dup_string(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

}  // namespace

extern "C" {

const char* rc_version(void) { return "0.1.0"; }

int rc_abi_version(void) { return RC_ABI_VERSION; }

const rc_error* rc_last_error(void) {
  if (!t_error.view.message) t_error.reset();
  return &t_error.view;
}

void rc_string_free(char* s) { std::free(s); }

rc_status rc_spec_load_file(rc_spec** out, const char* path) {
  return guard([&] {
    if (!out) return invalid("rc_spec_load_file: out is NULL");
    *out = nullptr;
    if (!path) return invalid("rc_spec_load_file: path is NULL");
    auto* s = new rc_spec{raycluster::load_spec_file(path)};
    *out = s;
    return RC_OK;
  });
}

rc_status rc_spec_load_string(rc_spec** out, const char* yaml, const char* name) {
  return guard([&] {
    if (!out) return invalid("rc_spec_load_string: out is NULL");
    *out = nullptr;
    if (!yaml) return invalid("rc_spec_load_string: yaml is NULL");
    auto* s = new rc_spec{raycluster::load_spec_string(yaml, name ? name : "<string>")};
    *out = s;
    return RC_OK;
  });
}

rc_status rc_spec_to_json(char** out, const rc_spec* spec) {
  return guard([&] {
    if (!out) return invalid("rc_spec_to_json: out is NULL");
    *out = nullptr;
    if (!spec) return invalid("rc_spec_to_json: spec is NULL");
    *out = dup_string(raycluster::spec_to_value(spec->spec).to_json(2));
    return RC_OK;
  });
}

void rc_spec_free(rc_spec* spec) { delete spec; }

}  // extern "C"
