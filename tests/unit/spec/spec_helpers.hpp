// Shared helpers for the spec tests.
#pragma once

#include <string>

#include <doctest/doctest.h>

#include "spec/spec.hpp"

namespace spec_test {

inline std::string config(const std::string& rel) { return std::string(RC_TEST_CONFIGS) + "/" + rel; }

// The diagnostics of a config that must fail.
inline std::vector<raycluster::Diagnostic> errors_of(const std::string& yaml,
                                                     const std::string& name = "t.yaml") {
  try {
    raycluster::load_spec_string(yaml, name);
  } catch (const raycluster::ConfigError& e) {
    CHECK(e.code() == raycluster::ErrorCode::config);
    return e.diagnostics();
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  return {};
}

inline std::vector<raycluster::Diagnostic> file_errors_of(const std::string& path) {
  try {
    raycluster::load_spec_file(path);
  } catch (const raycluster::ConfigError& e) {
    return e.diagnostics();
  }
  FAIL("expected a ConfigError for " << path);
  return {};
}

}  // namespace spec_test
