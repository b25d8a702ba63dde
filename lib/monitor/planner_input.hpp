// Internal: the reconcile loop's view of the cluster as the planner's input.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "monitor/autoscaler_loop.hpp"
#include "monitor/launch_history.hpp"
#include "monitor/setups.hpp"

namespace raycluster::detail {

// Builds a PlannerInput from the spec, the provider's nodes and Ray's load
// report. Remembers when each node was last busy across ticks, so that idle
// time can be told when the report does not carry it. The tick's thread only.
class PlannerInputBuilder {
 public:
  // The policy, the live nodes, the node types and the load's demand. Nodes
  // `setups` works on count as pending; node types' startups come from
  // `startups`.
  PlannerInput build(const ClusterSpec& spec, const std::vector<Node>& nodes,
                     const ClusterLoad& load, std::chrono::system_clock::time_point now,
                     SetupPool& setups, StartupEstimates& startups);
  // Forgets a node that is gone.
  void forget(const std::string& node_id) { last_busy_.erase(node_id); }

 private:
  PlannerNode planner_node(const ClusterSpec& spec, const Node& n, const RayNodeLoad* rn,
                           bool load_ok, std::chrono::system_clock::time_point now);

  std::map<std::string, std::chrono::system_clock::time_point> last_busy_;  // node id -> when
};

}  // namespace raycluster::detail
