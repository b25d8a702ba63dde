#include <doctest/doctest.h>

#include "auth/ini.hpp"

using namespace raycluster::detail;

TEST_CASE("parse_ini reads sections, both delimiters, comments and nested values") {
  auto s = parse_ini(
      "# comment\n"
      "[default]\r\n"
      "Region = us-east-1\n"
      "; another comment\n"
      "output: json\n"
      "[profile dev]\n"
      "s3 =\n"
      "  max_concurrent_requests = 10\n"
      "  addressing_style=path\n"
      "aws_access_key_id=AKID\n"
      "[  default  ]\n"
      "region = eu-west-1\n");
  REQUIRE(s.size() == 2);
  CHECK(s[0].name == "default");
  CHECK(s[0].values.at("region") == "eu-west-1");  // a repeated section merges, later wins
  CHECK(s[0].values.at("output") == "json");
  CHECK(s[1].name == "profile dev");
  CHECK(s[1].values.at("s3") == "");
  CHECK(s[1].values.at("s3.max_concurrent_requests") == "10");
  CHECK(s[1].values.at("s3.addressing_style") == "path");
  CHECK(s[1].values.at("aws_access_key_id") == "AKID");
}

TEST_CASE("parse_ini ignores keys before the first section and lines without a delimiter") {
  auto s = parse_ini("orphan = 1\n[a]\njunk line\nk = v = w\n");
  REQUIRE(s.size() == 1);
  CHECK(s[0].values.size() == 1);
  CHECK(s[0].values.at("k") == "v = w");
}
