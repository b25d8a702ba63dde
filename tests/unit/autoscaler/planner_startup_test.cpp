// Unit tests of the planner's startup-aware rules (PlannerPolicy::
// launch_payback and keep_idle_startups): one or more per rule. Every
// expected value is worked out by hand in the comment next to it.
#include <doctest/doctest.h>

#include <chrono>

#include "autoscaler/autoscaler.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace std::chrono_literals;

namespace {

const ResourceMap kCpu1{{"CPU", 1}};
const ResourceMap kCpu8{{"CPU", 8}};

// A head with no resources and one worker type "cpu8" ({CPU:8}, max 100,
// 90 s from launch to usable), 100 workers, upscaling_speed 100 (so the
// pending cap stays out of the way), idle timeout 5 min, launch_payback 1
// (the cases below are worked out for it: H = 180 s).
PlannerInput base() {
  PlannerInput in;
  in.head_node_type = "head";
  PlannerNodeType head;
  head.name = "head";
  in.node_types.push_back(head);
  PlannerNodeType cpu;
  cpu.name = "cpu8";
  cpu.resources = kCpu8;
  cpu.max_workers = 100;
  cpu.startup = 90s;
  in.node_types.push_back(cpu);
  PlannerNode h;
  h.id = "h";
  h.node_type = "head";
  h.kind = NodeKind::head;
  h.total = ResourceMap{};
  h.available = ResourceMap{};
  in.nodes.push_back(h);
  in.policy.max_workers = 100;
  in.policy.upscaling_speed = 100;
  in.policy.idle_timeout_minutes = 5;
  in.policy.launch_payback = 1;
  in.now = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  return in;
}

PlannerNode node(std::string id, double free_cpu, std::chrono::milliseconds idle = 0ms) {
  PlannerNode n;
  n.id = std::move(id);
  n.node_type = "cpu8";
  n.total = kCpu8;
  n.available = ResourceMap{{"CPU", free_cpu}};
  n.idle_for = idle;
  return n;
}

PlannerNode pending(std::string id, std::optional<std::chrono::milliseconds> age) {
  PlannerNode n = node(std::move(id), 8);
  n.status = status::setting_up;
  n.age = age;
  return n;
}

void queue(PlannerInput& in, std::int64_t n, std::chrono::milliseconds d) {
  in.demands.push_back({kCpu1, n});
  in.task_durations.push_back({kCpu1, d});
}

bool terminated(const Plan& p, const std::string& id) {
  for (const auto& t : p.terminations)
    if (t.node_id == id) return true;
  return false;
}

}  // namespace

TEST_CASE("duration-aware: busy nodes that free up within the horizon absorb short queued tasks") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 0));  // all 8 CPUs busy
  in.demands.push_back({kCpu1, 20});
  // Without a duration estimate: 20 bundles, no free slot -> ceil(20/8) = 3.
  CHECK(plan(in).launch_count("cpu8") == 3);

  // With d = 10 s: H = 90 * (1 + 1) = 180 s; a busy slot starts 180 / 10
  // = 18 tasks over H (its current task started at an unknown time: on
  // average one ends every d), less one of margin: 8 * 17 = 136 >= 20 ->
  // nothing to launch.
  in.task_durations.push_back({kCpu1, 10s});
  Plan p = plan(in);
  CHECK(p.launch_count("cpu8") == 0);
  CHECK(p.unfulfilled.empty());
}

TEST_CASE("duration-aware: a new slot counts for several short tasks") {
  PlannerInput in = base();
  // Empty cluster, 80 tasks of 10 s. A new slot takes
  // max(1, 1 * 90 / 10) = 9 tasks -> ceil(80 / 9) = 9 slots -> 2 nodes
  // (instead of 80 / 8 = 10).
  queue(in, 80, 10s);
  CHECK(plan(in).launch_count("cpu8") == 2);

  // launch_payback 2: 2 * 90 / 10 = 18 -> ceil(80 / 18) = 5 slots -> 1 node.
  in.policy.launch_payback = 2;
  CHECK(plan(in).launch_count("cpu8") == 1);

  // The share is not rounded down: 72 tasks of 40 s, a slot takes
  // 90 / 40 = 2.25 tasks (90 s of work) -> 32 slots -> 4 nodes (rounding
  // down to 2 tasks would launch 36 slots, 5 nodes, each slot for 80 s).
  in.policy.launch_payback = 1;
  in.demands[0].count = 72;
  in.task_durations[0].mean = 40s;
  CHECK(plan(in).launch_count("cpu8") == 4);
  in.demands[0].count = 80;
  in.task_durations[0].mean = 10s;

  // launch_payback 0 turns the rules off: 10 nodes.
  in.policy.launch_payback = 0;
  CHECK(plan(in).launch_count("cpu8") == 10);
}

TEST_CASE("duration-aware: long tasks plan as before, medium ones are partly absorbed") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 0));
  // d = 200 s >= H = 180 s: busy slots absorb nothing, a new slot takes
  // max(1, 90 / 200) = 1 task -> ceil(20 / 8) = 3, as without estimates.
  queue(in, 20, 200s);
  CHECK(plan(in).launch_count("cpu8") == 3);
  // d = 100 s: a busy slot starts 180 / 100 = 1.8 tasks over H, less one
  // of margin: 8 * 0.8 = 6 absorbed, 14 left; per slot 1 -> 2 nodes.
  in.task_durations[0].mean = 100s;
  CHECK(plan(in).launch_count("cpu8") == 2);
  // d = 40 s: 8 * (180 / 40 - 1) = 28 >= 20 absorbed -> nothing to launch.
  in.task_durations[0].mean = 40s;
  CHECK(plan(in).launch_count("cpu8") == 0);
  // d = 60 s: 8 * (180 / 60 - 1) = 16 absorbed, 4 left; a new slot counts
  // for 90 / 60 = 1.5 -> 3 slots -> 1 node.
  in.task_durations[0].mean = 60s;
  CHECK(plan(in).launch_count("cpu8") == 1);
}

TEST_CASE("duration-aware: the wait guard drops busy slots' credit once the queue is half a startup old") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 0));
  // d = 100 s (>= g = 0.5 * 90 = 45 s): as above, 6 absorbed by the busy
  // slots, 14 left -> 2 nodes while the oldest task has waited < 45 s.
  queue(in, 20, 100s);
  in.queue_waits.push_back({kCpu1, 44s});
  CHECK(plan(in).launch_count("cpu8") == 2);
  // Waited 45 s: busy slots absorb nothing -> ceil(20 / 8) = 3, as Ray.
  in.queue_waits[0].oldest = 45s;
  CHECK(plan(in).launch_count("cpu8") == 3);
  // payback_wait_startups 0: no guard.
  in.policy.payback_wait_startups = 0;
  CHECK(plan(in).launch_count("cpu8") == 2);
  in.policy.payback_wait_startups = 0.5;
  // Another shape's wait does not count.
  in.queue_waits[0] = {kCpu8, 300s};
  CHECK(plan(in).launch_count("cpu8") == 2);

  // Short tasks (d = 40 s < 45 s) keep the credit however old the queue:
  // 8 * (180 / 40 - 1) = 28 >= 20 absorbed -> nothing to launch.
  in.queue_waits[0] = {kCpu1, 300s};
  in.task_durations[0].mean = 40s;
  CHECK(plan(in).launch_count("cpu8") == 0);

  in.queue_waits[0].oldest = -1s;
  CHECK_THROWS_AS(plan(in), Error);
}

TEST_CASE("duration-aware: the wait guard keeps a pending node's credit") {
  PlannerInput in = base();
  // 20 tasks of 60 s (>= 45 s), waited 100 s; one pending node ready in
  // 30 s: first fit puts 8 on its free slots; follow-on 8 * ((180 - 30) /
  // 60 - 1) = 12 absorbed -> 0 left, nothing to launch, guard or not.
  in.nodes.push_back(pending("p1", 60s));
  queue(in, 20, 60s);
  in.queue_waits.push_back({kCpu1, 100s});
  CHECK(plan(in).launch_count("cpu8") == 0);
  // With a busy node instead, the guard leaves it no credit, while a new
  // slot still counts for 90 / 60 = 1.5 tasks: 20 / 1.5 -> 14 slots -> 2
  // nodes (without the guard: 16 absorbed, 4 left -> 3 slots -> 1 node).
  in.nodes.back() = node("w1", 0);
  CHECK(plan(in).launch_count("cpu8") == 2);
  in.queue_waits.clear();
  CHECK(plan(in).launch_count("cpu8") == 1);
}

TEST_CASE("duration-aware: a pending node is credited from when it will be ready") {
  PlannerInput in = base();
  // 100 tasks of 10 s; one pending node launched 60 s ago: ready in 30 s.
  // First fit: 8 tasks on its free slots. Follow-on: 8 slots *
  // ((180 - 30) / 10 - 1) = 8 * 14 = 112 >= 100 -> no launch.
  in.nodes.push_back(pending("p1", 60s));
  queue(in, 100, 10s);
  CHECK(plan(in).launch_count("cpu8") == 0);

  // Age unknown: ready in the whole 90 s -> 8 * (90 / 10 - 1) = 64
  // absorbed; 36 left, 8 on its free slots, 28 left -> ceil(28 / 9) = 4
  // slots -> 1 node.
  in.nodes.back().age.reset();
  CHECK(plan(in).launch_count("cpu8") == 1);

  // Launches in flight count as pending nodes of unknown age.
  in.nodes.pop_back();
  in.launching["cpu8"] = 1;
  CHECK(plan(in).launch_count("cpu8") == 1);
}

TEST_CASE("duration-aware: off for a shape when a type that fits it has no startup") {
  PlannerInput in = base();
  PlannerNodeType other;
  other.name = "cpu4";
  other.resources = ResourceMap{{"CPU", 4}};
  other.max_workers = 10;
  in.node_types.push_back(other);  // no startup estimate
  in.nodes.push_back(node("w1", 0));
  in.demands.push_back({kCpu1, 20});
  const Plan without = plan(in);
  REQUIRE_FALSE(without.launches.empty());
  // The estimate changes nothing while cpu4's startup is unknown.
  in.task_durations.push_back({kCpu1, 10s});
  CHECK(plan(in).launches == without.launches);
  // With it, the busy cpu8 node absorbs all 20 (8 * 16 = 128).
  in.node_types.back().startup = 90s;
  CHECK(plan(in).launch_totals().empty());
}

TEST_CASE("duration-aware: placement-group shapes are planned as before") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 0));
  PlacementGroup g;
  g.id = "pg";
  g.strategy = PlacementStrategy::pack;
  g.bundles = {kCpu1, kCpu1, kCpu1, kCpu1, kCpu1, kCpu1, kCpu1, kCpu1, kCpu1};
  in.placement_groups.push_back(g);
  in.task_durations.push_back({kCpu1, 10s});
  // 9 bundles of {CPU:1} with no free slot -> 2 nodes, estimate or not.
  CHECK(plan(in).launch_count("cpu8") == 2);
}

TEST_CASE("duration-aware: no thrash still sees the whole queue") {
  PlannerInput in = base();
  in.nodes.push_back(node("busy", 0));
  in.nodes.push_back(node("idle", 8, 10min));  // past the 5 min timeout
  // 5 tasks of 10 s: the busy node alone would absorb them within the
  // horizon, but they fit the idle node now, so it must not be terminated.
  queue(in, 5, 10s);
  const Plan p = plan(in);
  CHECK_FALSE(terminated(p, "idle"));
  CHECK(p.launch_count("cpu8") == 0);

  // With an empty queue it goes.
  in.demands.clear();
  CHECK(terminated(plan(in), "idle"));
}

TEST_CASE("keep_idle_startups: an idle node is released after a third of its startup") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 8, 31s));  // idle 31 s > 90 s / 3
  in.nodes.push_back(node("w2", 8, 29s));  // idle 29 s < 30 s
  Plan p = plan(in);
  CHECK(terminated(p, "w1"));
  CHECK_FALSE(terminated(p, "w2"));

  // The classic ski-rental setting keeps both (released after 90 s).
  in.policy.keep_idle_startups = 1;
  CHECK(plan(in).terminations.empty());

  // A shorter configured idle timeout still wins: 0.25 min = 15 s.
  in.policy.idle_timeout_minutes = 0.25;
  CHECK(plan(in).terminations.size() == 2);

  // Off (0): only the 5 min timeout applies.
  in.policy.idle_timeout_minutes = 5;
  in.policy.keep_idle_startups = 0;
  CHECK(plan(in).terminations.empty());
}

TEST_CASE("keep_idle_startups: needs a startup, keeps min_workers, and never thrashes") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 8, 60s));
  // No startup on the type: the 5 min timeout applies.
  in.node_types[1].startup.reset();
  CHECK(plan(in).terminations.empty());
  in.node_types[1].startup = 90s;
  CHECK(terminated(plan(in), "w1"));

  // Kept for min_workers.
  in.node_types[1].min_workers = 1;
  CHECK(plan(in).terminations.empty());
  in.node_types[1].min_workers = 0;

  // Kept while queued work would be placed on it.
  in.demands.push_back({kCpu1, 1});
  CHECK(plan(in).terminations.empty());
}

TEST_CASE("startup and duration estimates are validated") {
  PlannerInput in = base();
  in.node_types[1].startup = -1s;
  CHECK_THROWS_AS(plan(in), Error);
  in.node_types[1].startup = 90s;
  in.demands.push_back({kCpu1, 1});
  in.task_durations.push_back({kCpu1, -1s});
  CHECK_THROWS_AS(plan(in), Error);
}

TEST_CASE("duration-aware: extreme settings stay finite") {
  PlannerInput in = base();
  in.nodes.push_back(node("w1", 0));
  queue(in, std::int64_t{1} << 60, 1ms);
  in.policy.launch_payback = 1e300;
  // A new slot counts for at most 1e15 tasks; nothing overflows.
  const Plan p = plan(in);
  CHECK(p.launch_count("cpu8") <= 100);
  in.node_types[1].startup = std::chrono::hours(24 * 365 * 1000);
  CHECK_NOTHROW(plan(in));
}
