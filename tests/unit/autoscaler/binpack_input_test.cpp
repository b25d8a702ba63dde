#include <doctest/doctest.h>

#include <filesystem>

#include "autoscaler/binpack_input.hpp"
#include "autoscaler/autoscaler.hpp"
#include "util/error.hpp"

using namespace raycluster;

TEST_CASE("binpack adapter maps the tiny file and the plan is the hand-computed one") {
  PlannerInput in = detail::load_binpack_input(RC_AUTOSCALER_TEST_DIR "/tiny_binpack.json");
  CHECK(in.head_node_type == "ray.head.default");
  CHECK(in.policy.max_workers == 10);
  CHECK(in.policy.upscaling_speed == 1.0);
  REQUIRE(in.node_types.size() == 3);
  CHECK(in.node_types[1].name == "m5.xlarge");
  CHECK(in.node_types[1].resources.get("memory") == 16);
  REQUIRE(in.nodes.size() == 2);
  CHECK(in.nodes[0].kind == NodeKind::head);
  CHECK(in.nodes[1].available->get("CPU") == 1);
  CHECK(in.launching.at("m5.xlarge") == 1);
  CHECK(in.demands.size() == 5);

  // By hand, in Ray's order {CPU1,GPU1}, {CPU2}, {TPU1}, {CPU1}x2:
  // {CPU2} and one {CPU1} land on the launching m5, the other {CPU1} on i-1;
  // {CPU1,GPU1} needs one p3; {TPU1} fits no type.
  Plan p = plan(in);
  REQUIRE(p.launches.size() == 1);
  CHECK(p.launches[0] == LaunchDecision{"p3", 1, LaunchReason::demand});
  REQUIRE(p.infeasible.size() == 1);
  CHECK(p.infeasible[0].shape.to_json() == R"({"TPU":1})");
  CHECK(p.infeasible[0].count == 1);
  REQUIRE(p.unfulfilled.size() == 1);
  CHECK(p.unfulfilled[0].count == 1);
  CHECK(p.terminations.empty());
}

TEST_CASE("binpack adapter rejects malformed input") {
  CHECK_THROWS_AS(detail::binpack_input_from_json("{"), Error);
  CHECK_THROWS_AS(detail::binpack_input_from_json(R"({"schema":"other"})"), Error);
  CHECK_THROWS_AS(detail::load_binpack_input("/nonexistent/file.json"), Error);
}

TEST_CASE("binpack adapter reads placement groups and floors") {
  PlannerInput in = detail::binpack_input_from_json(R"({
    "schema":"ray-binpack-input/1","head_node_type":"h","max_workers":4,"upscaling_speed":1,
    "node_types":{"h":{"resources":{"CPU":1},"min_workers":0,"max_workers":0},
                  "w":{"resources":{"CPU":4},"min_workers":0,"max_workers":4}},
    "nodes":[],"launching_nodes":{},"demands":[],
    "pending_placement_groups":[{"strategy":"STRICT_SPREAD","bundles":[{"CPU":1},{"CPU":1}]}],
    "ensure_min_cluster_size":[{"CPU":4}]})");
  REQUIRE(in.placement_groups.size() == 1);
  CHECK(in.placement_groups[0].strategy == PlacementStrategy::strict_spread);
  CHECK(in.resource_requests.size() == 1);
  // Floor {CPU:4} needs one w (request_resources); the two spread bundles then
  // need distinct nodes: one fits on that planned w, the other needs a second w.
  Plan p = plan(in);
  CHECK(p.launch_count("w") == 2);
}

TEST_CASE("a shared bench input plans like the per-bundle Ray model") {
  // A copy of one of the shared bench inputs, kept with the tests.
  const std::string path = std::string(RC_BENCH_INPUTS) + "/ray_binpack_s1_n100_d1000.json";
  REQUIRE_MESSAGE(std::filesystem::exists(path), path << " is missing");
  PlannerInput in = detail::load_binpack_input(path);
  CHECK(in.nodes.size() == 101);
  CHECK(in.demands.size() == 1000);
  // Expected from tests/unit/autoscaler/ray_reference.py (an independent,
  // one-bundle-at-a-time model of Ray's get_nodes_to_launch): 10 running
  // p3.8xlarge allow max(5, 1.0 * 10) = 10 pending; inf2.8xlarge gets 6.
  Plan p = plan(in);
  CHECK(p.launch_count("p3.8xlarge") == 10);
  CHECK(p.launch_count("inf2.8xlarge") == 6);
  CHECK(p.launch_totals().size() == 2);
  CHECK(p.infeasible.empty());
}
