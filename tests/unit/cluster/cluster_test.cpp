// The lifecycle's decisions, against an in-memory provider whose runner
// records commands instead of running them.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "cluster/cluster.hpp"
#include "util/error.hpp"
#include "support/fake_cloud.hpp"
#include "util/fs.hpp"

using namespace raycluster;

namespace {

using World = testing::FakeCloud;
using testing::FakeProvider;

const char* kConfig = R"(cluster_name: unit
provider:
  type: localhost
max_workers: 3
head_node_type: head
available_node_types:
  head:
    resources: {CPU: 1}
    max_workers: 0
  worker:
    resources: {CPU: 2, gpu_slot: 1}
    min_workers: 1
    max_workers: 3
    initial_workers: 2
initialization_commands: [init]
setup_commands: [setup]
head_setup_commands: [head-setup]
worker_setup_commands: [worker-setup]
head_start_ray_commands: [head-start]
worker_start_ray_commands: [worker-start]
)";

struct Fixture {
  World world;
  std::string root;
  Fixture() {
    char tmpl[] = "/tmp/rc-cluster-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
  }
  ~Fixture() { detail::remove_tree(root); }
  std::unique_ptr<Cluster> open(const std::string& yaml = kConfig) {
    ClusterOptions o;
    o.state_root = root;
    o.retry_backoff = std::chrono::milliseconds(1);
    return Cluster::open(load_spec_string(yaml, "unit.yaml"), o,
                         std::make_unique<FakeProvider>(world));
  }
  std::vector<std::string> commands_of(const std::string& id) {
    std::vector<std::string> out;
    for (const auto& [n, c] : world.commands)
      if (n == id) out.push_back(c);
    return out;
  }
  std::vector<Node> of_kind(NodeKind k) {
    std::vector<Node> out;
    for (const auto& [id, n] : world.nodes)
      if (n.kind == k) out.push_back(n);
    return out;
  }
};

}  // namespace

TEST_CASE("up launches the head and the initial workers with Ray's tags and sets them up") {
  Fixture f;
  f.open()->up();
  auto heads = f.of_kind(NodeKind::head);
  auto workers = f.of_kind(NodeKind::worker);
  REQUIRE(heads.size() == 1);
  REQUIRE(workers.size() == 2);
  const auto& h = heads[0];
  CHECK(h.tags.at("ray-cluster-name") == "unit");
  CHECK(h.tags.at("ray-node-type") == "head");
  CHECK(h.tags.at("ray-user-node-type") == "head");
  CHECK(h.tags.at("ray-node-status") == "up-to-date");
  CHECK(h.tags.at("raycluster-id").size() == 16);
  CHECK(f.commands_of(h.id) ==
        std::vector<std::string>{"init", "setup", "head-setup", "head-start"});
  for (const auto& w : workers) {
    CHECK(w.tags.at("ray-node-type") == "worker");
    CHECK(w.tags.at("ray-node-status") == "up-to-date");
    CHECK(f.commands_of(w.id) ==
          std::vector<std::string>{"init", "setup", "worker-setup", "worker-start"});
    const auto& env = f.world.envs.at(w.id);
    CHECK(env.at("RAY_HEAD_IP") == h.internal_ip);
    CHECK(env.at("RAY_OVERRIDE_RESOURCES") == R"({"CPU":2,"gpu_slot":1})");
    CHECK(env.at("RAY_CLOUD_INSTANCE_ID") == w.id);
  }
}

TEST_CASE("a second up runs nothing; a changed command re-runs setup on the same nodes") {
  Fixture f;
  f.open()->up();
  auto before = f.world.commands.size();
  f.open()->up();
  CHECK(f.world.commands.size() == before);
  std::string changed = kConfig;
  changed.replace(changed.find("[worker-setup]"), 14, "[worker-setup-2]");
  f.open(changed)->up();
  CHECK(f.world.terminated.empty());
  // Only the workers' runtime changed.
  CHECK(f.world.commands.size() == before + 2 * 4);
}

TEST_CASE("a head set up again takes its workers along") {
  Fixture f;
  f.open()->up();
  auto before = f.world.commands.size();
  std::string changed = kConfig;
  changed.replace(changed.find("[head-start]"), 12, "[head-start-2]");
  f.open(changed)->up();
  // The head and both workers ran their four commands again.
  CHECK(f.world.commands.size() == before + 3 * 4);
  CHECK(f.world.terminated.empty());
}

TEST_CASE("a changed node_config replaces the nodes it shaped") {
  Fixture f;
  f.open()->up();
  auto old_head = f.of_kind(NodeKind::head)[0].id;
  std::string changed = kConfig;
  changed.replace(changed.find("    resources: {CPU: 1}\n"), 24,
                  "    resources: {CPU: 1}\n    node_config: {InstanceType: big}\n");
  f.open(changed)->up();
  CHECK(f.world.terminated == std::vector<std::string>{old_head});
  CHECK(f.of_kind(NodeKind::head)[0].id != old_head);
  CHECK(f.of_kind(NodeKind::worker).size() == 2);
}

TEST_CASE("a failing worker is retried, marked update-failed and named in the error") {
  Fixture f;
  f.world.failing.insert("worker-setup");
  auto c = f.open();
  try {
    c->up();
    FAIL("up should fail");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::command_failed);
    std::string msg = e.what();
    for (const auto& w : f.of_kind(NodeKind::worker)) CHECK(msg.find(w.id) != std::string::npos);
    CHECK(msg.find("`worker-setup` exited 1") != std::string::npos);
  }
  for (const auto& w : f.of_kind(NodeKind::worker)) {
    CHECK(w.tags.at("ray-node-status") == "update-failed");
    auto cmds = f.commands_of(w.id);
    CHECK(std::count(cmds.begin(), cmds.end(), "worker-setup") == 2);
    CHECK(std::count(cmds.begin(), cmds.end(), "worker-start") == 0);
  }
  // The head is fine and stays.
  CHECK(f.of_kind(NodeKind::head)[0].tags.at("ray-node-status") == "up-to-date");
}

TEST_CASE("workers are set up alongside the head; only their start commands wait for it") {
  Fixture f;
  f.world.slow["head-setup"] = std::chrono::milliseconds(300);
  auto c = f.open();
  c->up();
  std::vector<std::string> order;
  for (const auto& [id, cmd] : f.world.commands) order.push_back(cmd);
  auto first = [&](const std::string& cmd) {
    return std::find(order.begin(), order.end(), cmd) - order.begin();
  };
  auto last = [&](const std::string& cmd) {
    return order.rend() - std::find(order.rbegin(), order.rend(), cmd) - 1;
  };
  REQUIRE(std::count(order.begin(), order.end(), "worker-setup") == 2);
  // Both workers' setup began while the head's (slow) setup ran...
  CHECK(last("worker-setup") < first("head-start"));
  // ...and no worker started before the head had.
  CHECK(first("worker-start") > first("head-start"));
  for (const auto& w : f.of_kind(NodeKind::worker))
    CHECK(w.tags.at("ray-node-status") == "up-to-date");
}

TEST_CASE("a head that fails leaves its workers set up but not started, and says so") {
  Fixture f;
  f.world.failing.insert("head-start");
  auto c = f.open();
  try {
    c->up();
    FAIL("up should fail");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::command_failed);
    std::string msg = e.what();
    CHECK(msg.find("`head-start` exited 1") != std::string::npos);
    CHECK(msg.find("2 worker(s) set up but not started: the head did not come up") !=
          std::string::npos);
  }
  for (const auto& w : f.of_kind(NodeKind::worker)) {
    auto cmds = f.commands_of(w.id);
    CHECK(std::count(cmds.begin(), cmds.end(), "worker-setup") == 1);
    CHECK(std::count(cmds.begin(), cmds.end(), "worker-start") == 0);
    // Not marked failed: the next `up` sets them up and starts them.
    CHECK(w.tags.at("ray-node-status") != "update-failed");
  }
  f.world.failing.clear();
  c->up();
  for (const auto& w : f.of_kind(NodeKind::worker)) {
    auto cmds = f.commands_of(w.id);
    CHECK(std::count(cmds.begin(), cmds.end(), "worker-start") == 1);
    CHECK(w.tags.at("ray-node-status") == "up-to-date");
  }
}

TEST_CASE("disable_node_updaters: workers are launched and tagged, never set up") {
  Fixture f;
  std::string yaml = kConfig;
  yaml.replace(yaml.find("  type: localhost\n"), 17, "  type: localhost\n  disable_node_updaters: true\n");
  auto c = f.open(yaml);
  c->up();
  auto workers = f.of_kind(NodeKind::worker);
  REQUIRE(workers.size() == 2);
  for (const auto& w : workers) {
    CHECK(f.commands_of(w.id).empty());
    CHECK(w.tags.at("ray-node-type") == "worker");
    CHECK(w.tags.count("ray-launch-config") == 1);
  }
  // The head is still set up by `up`, as Ray does.
  auto head_cmds = f.commands_of(f.of_kind(NodeKind::head)[0].id);
  CHECK(std::count(head_cmds.begin(), head_cmds.end(), "head-start") == 1);
  c->up();
  ScaleOptions so;
  so.workers = 3;
  c->scale(so);
  for (const auto& w : f.of_kind(NodeKind::worker)) CHECK(f.commands_of(w.id).empty());
}

TEST_CASE("scale checks the type's bounds with the config's location, then launches or removes") {
  Fixture f;
  auto c = f.open();
  c->up();
  try {
    c->scale({4, ""});
    FAIL("scale above max should fail");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("unit.yaml:13:") != std::string::npos);
  }
  CHECK_THROWS_AS(c->scale({0, ""}), Error);  // below min_workers 1
  CHECK_THROWS_AS(c->scale({1, "nope"}), Error);
  c->scale({3, ""});
  CHECK(f.of_kind(NodeKind::worker).size() == 3);
  auto newest = f.of_kind(NodeKind::worker).back().id;
  c->scale({1, "worker"});
  auto left = f.of_kind(NodeKind::worker);
  REQUIRE(left.size() == 1);
  CHECK(left[0].id != newest);  // the newest go first
}

TEST_CASE("down keeps the minimum when asked, and everything otherwise") {
  Fixture f;
  auto c = f.open();
  c->up();
  DownOptions keep;
  keep.keep_min_workers = true;
  c->down(keep);
  CHECK(f.of_kind(NodeKind::head).size() == 1);
  CHECK(f.of_kind(NodeKind::worker).size() == 1);
  c->down();
  CHECK(f.world.nodes.empty());
}

TEST_CASE("launch tokens differ between operations, even of the same shape") {
  Fixture a, b;
  a.open()->up();
  b.open()->up();
  REQUIRE(a.world.tokens.size() == 2);
  CHECK(a.world.tokens[0] != b.world.tokens[0]);
  // Down and up again: the head launch has the same shape, but a cloud that
  // remembers tokens (EC2 keeps a ClientToken for a day) must not answer it
  // with the terminated head, so the token is new.
  auto c = a.open();
  c->down();
  c->up();
  REQUIRE(a.world.tokens.size() == 4);
  CHECK(a.world.tokens[2] != a.world.tokens[0]);
  std::set<std::string> distinct(a.world.tokens.begin(), a.world.tokens.end());
  CHECK(distinct.size() == 4);
}
