// The launch helpers of providers/common: a batch counts an earlier call's
// nodes and never grows past its count, stopped nodes are reused only when
// kind, type and launch config match, and a zone without capacity goes last
// until its cool-down passed on the context's clock.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "providers/common/launch.hpp"
#include "providers/common/zone_cooldown.hpp"
#include "spec/spec.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using raycluster::detail::LaunchBatch;
using raycluster::detail::ZoneCooldown;

namespace {

Node with_tags(const std::string& id, CloudState state, Tags tags) {
  Node n;
  n.id = id;
  n.state = state;
  n.tags = std::move(tags);
  return n;
}

}  // namespace

TEST_CASE("a launch batch counts earlier nodes of its token and stops at its count") {
  LaunchRequest r;
  r.count = 3;
  r.idempotency_token = "tok";
  LaunchBatch b(r);
  CHECK(b.made_by_request("tok"));
  CHECK_FALSE(b.made_by_request("other"));
  CHECK(b.add(with_tags("a", CloudState::running, {})));
  CHECK(b.remaining() == 2);
  CHECK(b.add(with_tags("b", CloudState::running, {})));
  CHECK(b.add(with_tags("c", CloudState::running, {})));
  CHECK(b.remaining() == 0);
  CHECK_FALSE(b.add(with_tags("d", CloudState::running, {})));
  CHECK(b.take().size() == 3);
}

TEST_CASE("a request without a token is never the maker of an earlier node") {
  LaunchRequest r;
  r.count = 1;
  LaunchBatch b(r);
  CHECK_FALSE(b.made_by_request(""));
}

TEST_CASE("stopped nodes are reused only with the request's kind, type and launch config") {
  NodeTypeSpec type;
  type.name = "worker";
  LaunchRequest r;
  r.node_type = &type;
  r.kind = NodeKind::worker;
  r.count = 5;
  r.tags = {{tags::launch_config, "h1"}, {tags::node_status, "uninitialized"}, {"gone", ""}};
  Tags same = {{tags::node_kind, "worker"}, {tags::user_node_type, "worker"},
               {tags::launch_config, "h1"}, {"gone", "x"}};
  Tags other_hash = same;
  other_hash[tags::launch_config] = "h2";
  Tags head = same;
  head[tags::node_kind] = "head";
  std::vector<Node> nodes = {with_tags("s1", CloudState::stopped, same),
                             with_tags("r1", CloudState::running, same),
                             with_tags("s2", CloudState::stopped, other_hash),
                             with_tags("s3", CloudState::stopped, head),
                             with_tags("s4", CloudState::stopped, same),
                             with_tags("s5", CloudState::stopped, same)};
  auto got = detail::reusable_stopped(nodes, r, 2);
  REQUIRE(got.size() == 2);
  CHECK(got[0].id == "s1");
  CHECK(got[1].id == "s4");

  Node back = detail::restarted(got[0], r);
  CHECK(back.state == CloudState::pending);
  CHECK(back.tags.at(tags::node_status) == "uninitialized");
  CHECK(back.tags.count("gone") == 0);  // an empty value removes the tag
}

TEST_CASE("a zone without capacity goes last for that type until its cool-down passed") {
  auto now = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  ZoneCooldown cd([&] { return now; }, 5min);
  std::vector<std::string> zones = {"a", "b", "c"};
  auto ordered = [&](const std::string& type) {
    auto z = zones;
    cd.order(z, type, [](const std::string& s) -> const std::string& { return s; });
    return z;
  };
  cd.mark("a", "m5.large");
  CHECK(ordered("m5.large") == std::vector<std::string>{"b", "c", "a"});
  CHECK(ordered("c5.large") == std::vector<std::string>{"a", "b", "c"});  // per type
  now += 1min;
  cd.mark("b", "m5.large");
  // Both cool down: the one free sooner goes first of them.
  CHECK(ordered("m5.large") == std::vector<std::string>{"c", "a", "b"});
  CHECK(cd.until("a", "m5.large") == now - 1min + 5min);
  now += 4min;  // a's cool-down is over
  CHECK(cd.until("a", "m5.large") == ZoneCooldown::time_point{});
  CHECK(ordered("m5.large") == std::vector<std::string>{"a", "c", "b"});
}
