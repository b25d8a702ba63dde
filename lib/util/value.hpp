// raycluster: a JSON-shaped value.
//
// Used where the library keeps data in its provider-native form (a node
// type's node_config, provider-specific keys) and for JSON output. Objects
// keep their keys in insertion order so output follows the input file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace raycluster {

class Value {
 public:
  enum class Type { null, boolean, integer, number, string, array, object };
  using Array = std::vector<Value>;
  using Member = std::pair<std::string, Value>;
  using Object = std::vector<Member>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}

  static Value array() { return Value(Array{}); }
  // An array of the strings, in order.
  static Value strings(const std::vector<std::string>& items) {
    Value a = array();
    for (const auto& s : items) a.push(s);
    return a;
  }
  static Value object() { return Value(Object{}); }

  Type type() const noexcept { return static_cast<Type>(v_.index()); }
  bool is_null() const noexcept { return type() == Type::null; }
  bool is_bool() const noexcept { return type() == Type::boolean; }
  bool is_integer() const noexcept { return type() == Type::integer; }
  // integer or number
  bool is_number() const noexcept {
    return type() == Type::integer || type() == Type::number;
  }
  bool is_string() const noexcept { return type() == Type::string; }
  bool is_array() const noexcept { return type() == Type::array; }
  bool is_object() const noexcept { return type() == Type::object; }

  // Accessors throw raycluster::Error(invalid_argument) on a type mismatch.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_number() const;  // integer or number
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object member lookup; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  // Sets (replacing) an object member; turns a null value into an object.
  Value& set(std::string key, Value v);
  // Appends to an array; turns a null value into an array.
  Value& push(Value v);
  std::size_t size() const noexcept;

  // Compact JSON when indent < 0, else pretty-printed with that many spaces.
  std::string to_json(int indent = -1) const;
  // Parses JSON text; throws raycluster::Error(invalid_argument) with the
  // offset, also for text nested deeper than kMaxJsonDepth arrays/objects.
  static constexpr std::size_t kMaxJsonDepth = 128;
  static Value parse_json(std::string_view text);

  friend bool operator==(const Value& a, const Value& b);

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Array,
               Object>
      v_;
};

}  // namespace raycluster
