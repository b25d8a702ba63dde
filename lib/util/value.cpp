#include "util/value.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>

#include "util/error.hpp"

namespace raycluster {
namespace {

[[noreturn]] void type_error(const char* want) {
  throw Error(ErrorCode::invalid_argument, std::string("value is not ") + want);
}

template <class Writer>
void write(const Value& v, Writer& w) {
  switch (v.type()) {
    case Value::Type::null: w.Null(); break;
    case Value::Type::boolean: w.Bool(v.as_bool()); break;
    case Value::Type::integer: w.Int64(v.as_int()); break;
    case Value::Type::number: {
      double d = v.as_number();
      if (std::isfinite(d))
        w.Double(d);
      else
        w.Null();  // JSON has no NaN or infinity
      break;
    }
    case Value::Type::string: {
      const auto& s = v.as_string();
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case Value::Type::array:
      w.StartArray();
      for (const auto& e : v.as_array()) write(e, w);
      w.EndArray();
      break;
    case Value::Type::object:
      w.StartObject();
      for (const auto& [k, e] : v.as_object()) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        write(e, w);
      }
      w.EndObject();
      break;
  }
}

Value from_rapidjson(const rapidjson::Value& j) {
  if (j.IsNull()) return Value();
  if (j.IsBool()) return Value(j.GetBool());
  if (j.IsInt64()) return Value(static_cast<std::int64_t>(j.GetInt64()));
  if (j.IsNumber()) return Value(j.GetDouble());
  if (j.IsString()) return Value(std::string(j.GetString(), j.GetStringLength()));
  if (j.IsArray()) {
    Value::Array a;
    a.reserve(j.Size());
    for (const auto& e : j.GetArray()) a.push_back(from_rapidjson(e));
    return Value(std::move(a));
  }
  Value::Object o;
  o.reserve(j.MemberCount());
  for (const auto& m : j.GetObject())
    o.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                   from_rapidjson(m.value));
  return Value(std::move(o));
}

// Building, printing and destroying a Value recurse once per level, so the
// depth is bounded before anything is built: a 70 KB answer of nested
// brackets must be an error, not a stack overflow. Exponents are bounded too.
// rapidjson's exact parser derives shifts from a number's digits unchecked.
constexpr std::size_t kMaxNumberChars = 100;

void check_json_depth(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  std::size_t number_run = 0;  // characters of the number being read
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    const bool number_char = !in_string && ((c >= '0' && c <= '9') || c == '.' || c == 'e' ||
                                            c == 'E' || c == '+' || c == '-');
    number_run = number_char ? number_run + 1 : 0;
    if (number_run > kMaxNumberChars)
      throw Error(ErrorCode::invalid_argument,
                  "invalid JSON at offset " + std::to_string(i) + ": a number longer than " +
                      std::to_string(kMaxNumberChars) + " characters (the limit)");
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if ((c == 'e' || c == 'E') && i > 0 && text[i - 1] >= '0' && text[i - 1] <= '9') {
      // An exponent: rapidjson's exact parser shifts by it unchecked, so one
      // of more digits than any double needs is refused here.
      std::size_t j = i + 1;
      if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
      while (j < text.size() && text[j] == '0') ++j;
      std::size_t digits = 0;
      while (j + digits < text.size() && text[j + digits] >= '0' && text[j + digits] <= '9') ++digits;
      if (digits > 4)
        throw Error(ErrorCode::invalid_argument,
                    "invalid JSON at offset " + std::to_string(i) +
                        ": a number's exponent has more than 4 digits (the limit)");
    } else if (c == '[' || c == '{') {
      if (++depth > Value::kMaxJsonDepth)
        throw Error(ErrorCode::invalid_argument,
                    "invalid JSON at offset " + std::to_string(i) + ": nested deeper than " +
                        std::to_string(Value::kMaxJsonDepth) + " levels (the limit)");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace

bool Value::as_bool() const {
  if (auto* p = std::get_if<bool>(&v_)) return *p;
  type_error("a boolean");
}
std::int64_t Value::as_int() const {
  if (auto* p = std::get_if<std::int64_t>(&v_)) return *p;
  if (auto* d = std::get_if<double>(&v_)) {
    if (std::nearbyint(*d) == *d && std::fabs(*d) < 9.2e18) return static_cast<std::int64_t>(*d);
  }
  type_error("an integer");
}
double Value::as_number() const {
  if (auto* p = std::get_if<double>(&v_)) return *p;
  if (auto* p = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*p);
  type_error("a number");
}
const std::string& Value::as_string() const {
  if (auto* p = std::get_if<std::string>(&v_)) return *p;
  type_error("a string");
}
const Value::Array& Value::as_array() const {
  if (auto* p = std::get_if<Array>(&v_)) return *p;
  type_error("an array");
}
Value::Array& Value::as_array() {
  if (auto* p = std::get_if<Array>(&v_)) return *p;
  type_error("an array");
}
const Value::Object& Value::as_object() const {
  if (auto* p = std::get_if<Object>(&v_)) return *p;
  type_error("an object");
}
Value::Object& Value::as_object() {
  if (auto* p = std::get_if<Object>(&v_)) return *p;
  type_error("an object");
}

const Value* Value::find(std::string_view key) const {
  auto* o = std::get_if<Object>(&v_);
  if (!o) return nullptr;
  for (const auto& [k, v] : *o)
    if (k == key) return &v;
  return nullptr;
}
Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value&>(*this).find(key));
}

Value& Value::set(std::string key, Value v) {
  if (is_null()) v_ = Object{};
  auto& o = as_object();
  for (auto& [k, existing] : o)
    if (k == key) return existing = std::move(v);
  o.emplace_back(std::move(key), std::move(v));
  return o.back().second;
}

Value& Value::push(Value v) {
  if (is_null()) v_ = Array{};
  auto& a = as_array();
  a.push_back(std::move(v));
  return a.back();
}

std::size_t Value::size() const noexcept {
  if (auto* a = std::get_if<Array>(&v_)) return a->size();
  if (auto* o = std::get_if<Object>(&v_)) return o->size();
  return 0;
}

std::string Value::to_json(int indent) const {
  rapidjson::StringBuffer buf;
  if (indent < 0) {
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    write(*this, w);
  } else {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', static_cast<unsigned>(indent));
    write(*this, w);
  }
  return std::string(buf.GetString(), buf.GetSize());
}

Value Value::parse_json(std::string_view text) {
  check_json_depth(text);
  // Not kParseFullPrecisionFlag: rapidjson 1.1's exact number parser shifts
  // and indexes out of range on hostile numbers (found by fuzzing); the
  // normal one is within an ULP, which no number read here needs better.
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseNanAndInfFlag |
            rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    throw Error(ErrorCode::invalid_argument,
                std::string("invalid JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                    ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return from_rapidjson(doc);
}

bool operator==(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number() && a.type() != b.type())
    return a.as_number() == b.as_number();
  return a.v_ == b.v_;
}

}  // namespace raycluster
