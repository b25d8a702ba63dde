// The tag filter all providers' list() share: every filter tag must match,
// a missing raycluster-id counts only where asked, and the order is by
// launch time, then id.
#include <doctest/doctest.h>

#include <chrono>

#include "providers/common/tag_filter.hpp"

using namespace raycluster;
using raycluster::detail::select_nodes;
using raycluster::detail::tags_match;
using raycluster::detail::UntaggedClusterId;

namespace {

Node node(const std::string& id, int launched_s, Tags tags) {
  Node n;
  n.id = id;
  n.launch_time = std::chrono::system_clock::time_point(std::chrono::seconds(launched_s));
  n.tags = std::move(tags);
  return n;
}

}  // namespace

TEST_CASE("every tag of the filter must be on the node with the same value") {
  Tags t = {{"ray-cluster-name", "a"}, {"ray-node-type", "worker"}};
  CHECK(tags_match(t, {}));
  CHECK(tags_match(t, {{"ray-cluster-name", "a"}}));
  CHECK_FALSE(tags_match(t, {{"ray-cluster-name", "b"}}));
  CHECK_FALSE(tags_match(t, {{"ray-cluster-name", "a"}, {"other", "x"}}));
}

TEST_CASE("a node without the cluster id matches only where untagged nodes are included") {
  Tags untagged = {{"ray-cluster-name", "a"}};
  Tags filter = {{"ray-cluster-name", "a"}, {"raycluster-id", "c1"}};
  CHECK_FALSE(tags_match(untagged, filter));
  CHECK(tags_match(untagged, filter, UntaggedClusterId::included));
  // Another id never matches.
  Tags other = {{"ray-cluster-name", "a"}, {"raycluster-id", "c2"}};
  CHECK_FALSE(tags_match(other, filter, UntaggedClusterId::included));
}

TEST_CASE("select_nodes keeps the matches in launch order, ties by id") {
  std::vector<Node> nodes = {node("n3", 20, {{"k", "v"}}), node("n2", 10, {{"k", "v"}}),
                             node("n1", 10, {{"k", "v"}}), node("x", 5, {{"k", "w"}})};
  auto got = select_nodes(nodes, {{"k", "v"}});
  REQUIRE(got.size() == 3);
  CHECK(got[0].id == "n1");
  CHECK(got[1].id == "n2");
  CHECK(got[2].id == "n3");
}
