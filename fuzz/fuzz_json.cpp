// The JSON reader: parse, print, parse again; the two readings agree (numbers
// within a few units in the last place: the reader rounds, see value.cpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <cmath>

#include "util/error.hpp"
#include "util/value.hpp"

namespace {

bool agree(const raycluster::Value& a, const raycluster::Value& b) {
  using T = raycluster::Value::Type;
  // JSON has no NaN or infinity: they print as null.
  if (a.is_number() && !std::isfinite(a.as_number())) return b.is_null();
  if (a.is_number() && b.is_number()) {
    double x = a.as_number(), y = b.as_number();
    return x == y || std::fabs(x - y) <= 1e-14 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.type() != b.type()) return false;
  if (a.type() == T::array) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!agree(a.as_array()[i], b.as_array()[i])) return false;
    return true;
  }
  if (a.type() == T::object) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a.as_object()[i].first != b.as_object()[i].first ||
          !agree(a.as_object()[i].second, b.as_object()[i].second))
        return false;
    return true;
  }
  return a == b;
}

}  // namespace

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
  if (!agree(v, again)) std::abort();
  (void)v.to_json(2);
  return 0;
}
