// The cluster YAML loader on arbitrary text: every input ends in a spec or a
// ConfigError, within the size and depth limits, and a spec prints as JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spec/spec.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    raycluster::ClusterSpec spec = raycluster::load_spec_string(text, "fuzz.yaml");
    (void)raycluster::spec_to_value(spec).to_json();
  } catch (const raycluster::ConfigError&) {
  } catch (const raycluster::Error&) {
  }
  return 0;
}
