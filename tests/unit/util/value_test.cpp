#include <doctest/doctest.h>

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
