#include <doctest/doctest.h>

#include <string>

#include "util/error.hpp"
#include "util/value.hpp"

using raycluster::Value;

TEST_CASE("value round-trips JSON and keeps key order") {
  auto v = Value::parse_json(R"({"b":1,"a":[true,null,2.5,"x\u00e9"],"c":{"d":-7}})");
  CHECK(v.is_object());
  CHECK(v.as_object()[0].first == "b");
  CHECK(v.find("a")->as_array()[2].as_number() == 2.5);
  CHECK(v.find("c")->find("d")->as_int() == -7);
  CHECK(v.to_json() == R"({"b":1,"a":[true,null,2.5,"xé"],"c":{"d":-7}})");
  CHECK(Value::parse_json(v.to_json(2)) == v);
}

TEST_CASE("value type errors are typed") {
  Value v("text");
  CHECK_THROWS_AS(v.as_int(), raycluster::Error);
  CHECK_THROWS_AS(Value::parse_json("{oops"), raycluster::Error);
  CHECK(Value(3) == Value(3.0));
  CHECK_FALSE(Value(3) == Value("3"));
}

TEST_CASE("set replaces and push appends") {
  Value o;
  o.set("k", 1);
  o.set("k", 2);
  CHECK(o.size() == 1);
  CHECK(o.find("k")->as_int() == 2);
  Value a;
  a.push(1);
  a.push("two");
  CHECK(a.to_json() == R"([1,"two"])");
}

TEST_CASE("deeply nested JSON is an error naming the limit, not a stack overflow") {
  // 70 KB of brackets once overflowed the stack of whatever parsed the head's answer.
  std::string deep(70000, '[');
  deep += std::string(70000, ']');
  try {
    (void)Value::parse_json(deep);
    FAIL("parsed " << deep.size() << " bytes of nesting");
  } catch (const raycluster::Error& e) {
    CHECK(std::string(e.what()).find("nested deeper than 128 levels") != std::string::npos);
  }
  std::string objects;
  for (int i = 0; i < 200; ++i) objects += "{\"a\":";
  objects += "1" + std::string(200, '}');
  CHECK_THROWS_AS(Value::parse_json(objects), raycluster::Error);
}

TEST_CASE("JSON exactly at the depth limit parses; brackets inside strings do not count") {
  const std::size_t limit = Value::kMaxJsonDepth;
  std::string at(limit, '[');
  at += std::string(limit, ']');
  CHECK(Value::parse_json(at).is_array());
  std::string over(limit + 1, '[');
  over += std::string(limit + 1, ']');
  CHECK_THROWS_AS(Value::parse_json(over), raycluster::Error);
  std::string quoted = "[\"" + std::string(1000, '[') + "\\\"{{{\"]";
  CHECK(Value::parse_json(quoted).as_array()[0].as_string().size() == 1004);
}

TEST_CASE("a number's exponent past any double is refused before parsing") {
  // rapidjson shifted by such an exponent unchecked (found by fuzzing).
  CHECK_THROWS_AS(Value::parse_json("[1e-2000000000]"), raycluster::Error);
  CHECK_THROWS_AS(Value::parse_json("{\"t\": 5E+123456}"), raycluster::Error);
  CHECK(Value::parse_json("[1e-300, 2.5E+0300, 0e00000099]").as_array()[0].as_number() == 1e-300);
  CHECK(Value::parse_json("[\"1e-2000000000\"]").as_array()[0].as_string() == "1e-2000000000");
}

TEST_CASE("a number of more characters than any double needs is refused before parsing") {
  // 700 digits once crashed rapidjson's exact parser (found by fuzzing).
  CHECK_THROWS_AS(Value::parse_json("[0." + std::string(700, '0') + "1]"), raycluster::Error);
  CHECK_THROWS_AS(Value::parse_json("[1" + std::string(100, '0') + "]"), raycluster::Error);
  CHECK(Value::parse_json("[0." + std::string(95, '0') + "1]").as_array()[0].as_number() == 1e-96);
  CHECK(Value::parse_json("[" + std::string(99, '9') + "]").as_array()[0].as_number() > 9.9e98);
}
