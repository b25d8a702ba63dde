// The JSON reader: parse, print, parse again; the two readings are equal.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "util/error.hpp"
#include "util/value.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  raycluster::Value v;
  try {
    v = raycluster::Value::parse_json(text);
  } catch (const raycluster::Error&) {
    return 0;
  }
  const std::string once = v.to_json();
  raycluster::Value again = raycluster::Value::parse_json(once);
  if (again.to_json() != once) std::abort();  // printing is a fixed point
  (void)v.to_json(2);
  return 0;
}
