#include <doctest/doctest.h>

#include "util/strings.hpp"

using namespace raycluster::detail;

TEST_CASE("edit distance counts transpositions as one edit") {
  CHECK(edit_distance("max_workers", "max_workers") == 0);
  CHECK(edit_distance("max_wokrers", "max_workers") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("closest match suggests only plausible typos") {
  std::vector<std::string> keys = {"max_workers", "min_workers", "idle_timeout_minutes"};
  CHECK(closest_match("max_worker", keys).value() == "max_workers");
  CHECK(closest_match("idle_timeout_minute", keys).value() == "idle_timeout_minutes");
  CHECK_FALSE(closest_match("provider", keys).has_value());
}

TEST_CASE("shell quoting survives single quotes") {
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
  CHECK(expand_user("~/x", "/home/u") == "/home/u/x");
  CHECK(expand_user("/abs/~", "/home/u") == "/abs/~");
}
