// The head's /api/cluster_status report as Ray 2.60 serves it (shape taken
// from a live localhost cluster: the dashboard camel-cases every dict key,
// including resource names in per-node usage, but not dicts inside lists).
#include <doctest/doctest.h>
#include <stdlib.h>

#include "monitor/load.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster;

namespace {

const char* kLive = R"({
 "result": true, "msg": "Got cluster status.",
 "data": {
  "autoscalingStatus": "Cluster status: 0 nodes",
  "autoscalingError": null,
  "clusterStatus": {
   "gcsRequestTime": 0.0014, "time": 1795637182.7996168, "monitorPid": 26936,
   "autoscalerReport": {"activeNodes": {"nodeB3": 1}, "idleNodes": null, "pendingNodes": [],
     "pendingLaunches": {}, "failedNodes": [], "legacy": true},
   "loadMetricsReport": {
    "usage": {"CPU": [2.0, 3.0], "demoSlot": [1.0, 1.0], "memory": [0.0, 47046381568.0]},
    "resourceDemand": [[{"CPU": 2.0, "demo_slot": 1.0}, 4], [{"CPU": 1.0}, 1]],
    "pgDemand": [[{"bundles": [[{"CPU": 4.0}, 1]], "strategy": "STRICT_PACK"}, 1],
                 [{"bundles": [[{"CPU": 1.0}, 2]], "strategy": "STRICT_SPREAD"}, 2]],
    "requestDemand": [[{"CPU": 2, "demo_slot": 1}, 3]],
    "nodeTypes": [[{"CPU": 2.0, "memory": 23434563584.0, "object_store_memory": 268435456.0,
                    "demo_slot": 1.0, "node:127.141.195.2": 1.0}, 1],
                  [{"object_store_memory": 268435456.0, "CPU": 1.0, "node:127.141.195.1": 1.0,
                    "memory": 23611817984.0, "node:__internal_head__": 1.0}, 1]],
    "headIp": null,
    "usageByNode": {
     "7a3f": {"node:127.141.195.2": [0.0, 1.0], "CPU": [2.0, 2.0], "demoSlot": [1.0, 1.0],
              "memory": [0.0, 23434563584.0], "objectStoreMemory": [0.0, 268435456.0]},
     "b307": {"node:127.141.195.1": [0.0, 1.0], "CPU": [0.0, 1.0], "node:InternalHead": [0.0, 1.0],
              "memory": [0.0, 23611817984.0], "objectStoreMemory": [0.0, 268435456.0]}
    },
    "nodeTypeMapping": null, "idleTimeMap": null
   }
  }
 }
})";

const RayNodeLoad* node_with_ip(const ClusterLoad& l, const std::string& ip) {
  for (const auto& n : l.nodes)
    if (n.ip == ip) return &n;
  return nullptr;
}

}  // namespace

TEST_CASE("load: Ray's camelCase mangling is reproduced and undone") {
  CHECK(detail::ray_camel_case("object_store_memory") == "objectStoreMemory");
  CHECK(detail::ray_camel_case("demo_slot") == "demoSlot");
  CHECK(detail::ray_camel_case("node:__internal_head__") == "node:InternalHead");
  CHECK(detail::ray_camel_case("CPU") == "CPU");
  CHECK(detail::ray_camel_case("my_GPU_type2x") == "myGpuType2X");
  CHECK(detail::ray_camel_case("node:127.0.0.1") == "node:127.0.0.1");
}

TEST_CASE("load: the live report's demand, placement groups, requests and nodes") {
  auto l = detail::parse_cluster_status(kLive);
  REQUIRE(l.ok);
  CHECK(std::chrono::duration<double>(l.report_time.time_since_epoch()).count() ==
        doctest::Approx(1795637182.7996168));
  REQUIRE(l.demands.size() == 2);
  CHECK(l.demands[0].shape == ResourceMap{{"CPU", 2}, {"demo_slot", 1}});
  CHECK(l.demands[0].count == 4);
  CHECK(l.demands[1].shape == ResourceMap{{"CPU", 1}});
  REQUIRE(l.resource_requests.size() == 1);
  CHECK(l.resource_requests[0].count == 3);
  REQUIRE(l.placement_groups.size() == 3);  // one STRICT_PACK, two STRICT_SPREAD
  CHECK(l.placement_groups[0].strategy == PlacementStrategy::strict_pack);
  CHECK(l.placement_groups[0].bundles == std::vector<ResourceMap>{ResourceMap{{"CPU", 4}}});
  CHECK(l.placement_groups[1].strategy == PlacementStrategy::strict_spread);
  CHECK(l.placement_groups[1].bundles.size() == 2);
  CHECK(l.placement_groups[1].id != l.placement_groups[2].id);

  REQUIRE(l.nodes.size() == 2);
  const auto* w = node_with_ip(l, "127.141.195.2");
  REQUIRE(w);
  CHECK(w->ray_node_id == "7a3f");
  CHECK(w->total.get("demo_slot") == 1);        // demoSlot mapped back
  CHECK(w->total.get("object_store_memory") == 268435456.0);
  CHECK(w->available.get("CPU") == 0);
  CHECK(w->available.get("demo_slot") == 0);
  CHECK_FALSE(w->idle_for.has_value());
  const auto* h = node_with_ip(l, "127.141.195.1");
  REQUIRE(h);
  CHECK(h->total.get("node:__internal_head__") == 1);
  CHECK(h->available.get("CPU") == 1);
}

TEST_CASE("load: names only the caller knows are mapped back too") {
  std::string doc = R"({"result":true,"data":{"clusterStatus":{"loadMetricsReport":{
    "usageByNode":{"x":{"node:10.0.0.5":[0,1],"accelType_A100":[0,1],"fancySlot":[1,2]}}}}}})";
  auto l = detail::parse_cluster_status(doc, {"fancy_slot"});
  REQUIRE(l.ok);
  REQUIRE(l.nodes.size() == 1);
  CHECK(l.nodes[0].ip == "10.0.0.5");
  CHECK(l.nodes[0].total.get("fancy_slot") == 2);
  CHECK(l.nodes[0].available.get("fancy_slot") == 1);
  CHECK(l.nodes[0].total.get("accelType_A100") == 1);  // unknown: kept as served
}

TEST_CASE("load: idleTimeMap, when the report has it, gives idle times in ms") {
  std::string doc = R"({"result":true,"data":{"clusterStatus":{"time":5,"loadMetricsReport":{
    "usageByNode":{"a":{"node:10.0.0.5":[0,1],"CPU":[0,4]}},"idleTimeMap":{"a":12500}}}}})";
  auto l = detail::parse_cluster_status(doc);
  REQUIRE(l.nodes.size() == 1);
  CHECK(l.nodes[0].idle_for == std::chrono::milliseconds(12500));
}

TEST_CASE("load: snake_case keys (Ray's KV value read directly) parse the same") {
  std::string doc = R"({"data":{"cluster_status":{"load_metrics_report":{
    "resource_demand":[[{"CPU":1},2]],"request_demand":[],"pg_demand":[]}}}})";
  auto l = detail::parse_cluster_status(doc);
  REQUIRE(l.ok);
  REQUIRE(l.demands.size() == 1);
  CHECK(l.demands[0].count == 2);
}

TEST_CASE("load: no report, a refusal, and garbage are errors, not exceptions") {
  auto none = detail::parse_cluster_status(
      R"({"result":true,"msg":"Got cluster status.","data":{"autoscalingStatus":null,"autoscalingError":null,"clusterStatus":null}})");
  CHECK_FALSE(none.ok);
  CHECK(none.error.find("no autoscaler report") != std::string::npos);
  auto refused = detail::parse_cluster_status(R"({"result":false,"msg":"boom","data":{}})");
  CHECK_FALSE(refused.ok);
  CHECK(refused.error.find("boom") != std::string::npos);
  CHECK_FALSE(detail::parse_cluster_status("<html>").ok);
  CHECK_FALSE(detail::parse_cluster_status("[]").ok);
  CHECK_FALSE(detail::parse_cluster_status(R"({"data":{"clusterStatus":{}}})").ok);
}

TEST_CASE("load: a placement-group count of 1e9 is refused at once, not looped over") {
  // 130 bytes once made the reader build a billion placement groups.
  auto huge = detail::parse_cluster_status(
      R"({"data":{"clusterStatus":{"loadMetricsReport":{"pgDemand":[[{"bundles":[[{"CPU":1},1]]},1e9]]}}}})");
  CHECK_FALSE(huge.ok);
  CHECK(huge.placement_groups.empty());
  CHECK(huge.error.find("more than 100000 placement-group bundles") != std::string::npos);
  // So is one group of a billion bundles, and many groups that add up past the limit.
  CHECK_FALSE(detail::parse_cluster_status(
      R"({"data":{"clusterStatus":{"loadMetricsReport":{"pgDemand":[[{"bundles":[[{"CPU":1},1e9]]},1]]}}}})").ok);
  CHECK_FALSE(detail::parse_cluster_status(
      R"({"data":{"clusterStatus":{"loadMetricsReport":{"pgDemand":[[{"bundles":[[{"CPU":1},2]]},40000],
                                                                     [{"bundles":[[{"GPU":1},1]]},30000]]}}}})").ok);
  auto at = detail::parse_cluster_status(
      R"({"data":{"clusterStatus":{"loadMetricsReport":{"pgDemand":[[{"bundles":[[{"CPU":1},2]]},50000]]}}}})");
  REQUIRE(at.ok);
  CHECK(at.placement_groups.size() == 50000);
}

TEST_CASE("load: a report time past any clock is ignored, not converted out of range") {
  // 1.7e10 s is 1.7e19 ns, more than system_clock holds (found by fuzzing).
  for (const char* t : {"1.7e10", "1e300"}) {
    auto l = detail::parse_cluster_status(
        std::string(R"({"data":{"clusterStatus":{"time":)") + t + R"(,"loadMetricsReport":{}}}})");
    REQUIRE(l.ok);
    CHECK(l.report_time == std::chrono::system_clock::time_point{});
  }
  auto ok = detail::parse_cluster_status(
      R"({"data":{"clusterStatus":{"time":1700000000.5,"loadMetricsReport":{}}}})");
  CHECK(ok.report_time.time_since_epoch() > std::chrono::seconds(1699999999));
}

TEST_CASE("load: demand counts past any integer are clamped, not undefined") {
  auto l = detail::parse_cluster_status(
      R"({"data":{"clusterStatus":{"loadMetricsReport":{"resourceDemand":[[{"CPU":1},1e300]]}}}})");
  REQUIRE(l.ok);
  REQUIRE(l.demands.size() == 1);
  CHECK(l.demands[0].count == detail::kMaxReportCount);
}

TEST_CASE("load: malformed and unexpected entries are skipped, the rest is kept") {
  std::string doc = R"({"data":{"clusterStatus":{"time":"soon","extra":{"x":1},"loadMetricsReport":{
    "resourceDemand":[[{"CPU":1},3],[{"CPU":-1},1],[{"CPU":"x"},1],[{"CPU":1}],"bad",[{},2],[{"GPU":1},0],
                      [{"GPU":1},2,"more"],[{"CPU":0.5},1.0]],
    "pgDemand":[[{"bundles":[[{"CPU":1},1]],"strategy":"WEIRD"},1],[{"strategy":"PACK"},1],
                [{"bundles":[[{"CPU":1},1]]},1]],
    "requestDemand":{"not":"a list"},
    "usageByNode":{"a":"nope","b":{"CPU":[1],"GPU":[0,1],"node:1.2.3.4":[0,1]}},
    "somethingNew":[1,2,3]}}}})";
  auto l = detail::parse_cluster_status(doc);
  REQUIRE(l.ok);
  CHECK(l.report_time == std::chrono::system_clock::time_point{});
  REQUIRE(l.demands.size() == 2);
  CHECK(l.demands[0].count == 3);
  CHECK(l.demands[1].shape == ResourceMap{{"CPU", 0.5}});
  REQUIRE(l.placement_groups.size() == 1);  // no strategy means PACK
  CHECK(l.placement_groups[0].strategy == PlacementStrategy::pack);
  CHECK(l.resource_requests.empty());
  REQUIRE(l.nodes.size() == 1);
  CHECK(l.nodes[0].ip == "1.2.3.4");
  CHECK(l.nodes[0].total.get("GPU") == 1);
  CHECK(l.nodes[0].total.get("CPU") == 0);
}

