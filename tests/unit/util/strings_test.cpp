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

TEST_CASE("terminal_safe: control bytes are shown, printable UTF-8 and tabs kept") {
  using raycluster::detail::terminal_safe;
  CHECK(terminal_safe("plain\ttext: caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80") ==
        "plain\ttext: caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
  CHECK(terminal_safe("\x1b]0;pwned\x07head\x1b[2J") == "^[]0;pwned\\x07head^[[2J");
  CHECK(terminal_safe(std::string_view("a\rb\bc\x7f\x00", 7)) == std::string("a\\x0db\\x08c\\x7f\\x00"));
  // C1 CSI (U+009B), a bare continuation byte, an overlong form, a cut sequence.
  CHECK(terminal_safe("\xc2\x9b" "2J \x80 \xc0\xaf \xe2\x9c") ==
        "\\xc2\\x9b2J \\x80 \\xc0\\xaf \\xe2\\x9c");
  CHECK(terminal_safe("one\ntwo\n") == "one\\x0atwo\n");
  CHECK(terminal_safe("one\ntwo\n", true) == "one\ntwo\n");
  CHECK(terminal_safe("\n") == "\n");
  CHECK(terminal_safe("").empty());
  for (std::string_view s : {"\x1b", "x\x07", "\r", "\xc2\x9b"})
    CHECK(terminal_safe(s).find_first_of("\x1b\x07\r\x9b") == std::string::npos);
}
