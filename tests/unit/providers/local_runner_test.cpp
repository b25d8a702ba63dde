// Where a localhost node's remote paths land on this machine.
#include <doctest/doctest.h>

#include <string>

#include "providers/local/local_runner.hpp"
#include "util/error.hpp"

using raycluster::Error;
using raycluster::detail::LocalRunner;

namespace {
LocalRunner runner() { return LocalRunner("n1", "/state/c/nodes/n1", "id/n1", nullptr); }
}  // namespace

TEST_CASE("remote paths under ~ and relative ones land in the node's folder") {
  auto r = runner();
  CHECK(r.resolve("~") == "/state/c/nodes/n1/");
  CHECK(r.resolve("~/x/y") == "/state/c/nodes/n1/x/y");
  CHECK(r.resolve("rel/f") == "/state/c/nodes/n1/rel/f");
  CHECK(r.resolve("~/a/../b") == "/state/c/nodes/n1/b");
  CHECK(r.resolve("/state/c/nodes/n1/abs") == "/state/c/nodes/n1/abs");
}

TEST_CASE("a sibling folder that shares the node folder's name as a prefix is outside") {
  auto r = runner();
  // Once passed: compared as strings, /state/c/nodes/n1EVIL starts with /state/c/nodes/n1.
  CHECK_THROWS_AS(r.resolve("~/../n1EVIL/f"), Error);
  CHECK_THROWS_AS(r.resolve("/state/c/nodes/n1EVIL/f"), Error);
  CHECK_THROWS_AS(r.resolve("~/../n2/f"), Error);
  CHECK_THROWS_AS(r.resolve("../../etc/passwd"), Error);
  CHECK_THROWS_AS(r.resolve("/etc/passwd"), Error);
  try {
    r.resolve("~/../n1EVIL/f");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "node n1: remote path ~/../n1EVIL/f leaves the node's folder");
  }
}
