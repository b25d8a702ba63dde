// raycluster: the autoscaling planner.
//
// plan() is a pure function: a snapshot of the cluster (node types, nodes,
// launches in flight), its load (pending resource demands, pending placement
// groups, request_resources() floors), the policy, launch-failure cool-downs
// and the time `now` go in; a Plan (nodes to launch per type, nodes to
// terminate with a reason, demand that no node type can ever hold) comes out.
// It does no I/O, reads no clock, uses no randomness and keeps no state
// between calls: the same input always gives the same Plan.
//
// Thread-safety: plan() touches only its argument and locals; any number of
// threads may call it concurrently (on distinct or shared const inputs).
// Errors: plan() throws raycluster::Error(invalid_argument) when the input
// contradicts itself (two node types of one name, a negative resource
// amount or count, upscaling_speed < 0). Everything else is planned around:
// a node of an unknown type is terminated (type_removed), a demand that fits
// no type is reported in Plan::infeasible.
//
// Semantics follow Ray's autoscaler v1 (resource_demand_scheduler.py and
// StandardAutoscaler.terminate_nodes_to_enforce_config_constraints):
//   * min_workers per type are launched first, even with an empty queue;
//   * request_resources() floors are bin-packed against the TOTAL capacity of
//     the nodes (busy or not), so a floor already met launches nothing;
//   * placement groups: STRICT_PACK becomes one summed bundle, PACK and SPREAD
//     are flattened into ordinary bundles (best effort), STRICT_SPREAD needs
//     one distinct node per bundle and is planned all-or-nothing;
//   * pending demand is first-fit packed onto the nodes' AVAILABLE resources
//     (Ray's order: more resource kinds first, then larger sum, then by
//     name), the residual onto new nodes one node at a time, the type chosen
//     by Ray's utilisation score (avoid GPU types for non-GPU work, then most
//     matching resource kinds, then best minimum and mean utilisation; a tie
//     goes to the greater type name, as Ray's reverse sort does);
//   * per-type max_workers and the cluster-wide max_workers bound the launch;
//   * upscaling_speed caps what one type may have pending:
//       allowed = max(5, floor(upscaling_speed * max(running_of_type, 1)))
//       launch  = min(wanted, max(allowed - pending_of_type,
//                                 min_workers_and_request_resources_launches
//                                 + placement_group_launches))
//     where running = nodes of that type whose status is "up-to-date" and
//     pending = its other live nodes plus its launches in flight;
//   * workers idle longer than the type's idle_timeout_minutes (else the
//     policy's) are terminated, except those kept for min_workers or needed
//     by request_resources(); the head node is never terminated.
// Where raycluster does better than Ray (on purpose):
//   * identical demand shapes are aggregated into (shape, count), so 100,000
//     pending bundles cost what their few distinct shapes cost; nothing is
//     clipped at 1,000 demands. The plan is the same as Ray's per-bundle
//     first-fit would give (first-fit of identical items is order-free).
//   * no thrash: an idle worker past its timeout is kept while pending demand
//     or a pending placement group would be placed on it;
//   * types in a launch-failure cool-down (now < until) are skipped: another
//     type is used, or the demand stays pending;
//   * min_workers launches also respect the cluster-wide max_workers;
//   * cost: when every type that could take part in a packing round has
//     cost_per_hour, the type is chosen greedily by lowest cost per unit of
//     demand it fits (a bundle's unit is its dominant share of the largest
//     type's capacity). Then, for up to 256 new nodes, an improvement pass
//     tries moves (take one planned node out, optionally put one node of
//     another type in, drop nodes no longer needed, dearest first) and keeps
//     a move when it is cheaper and covers as much demand. Without a cost on
//     every candidate type, Ray's scorer decides.
//   * startup-aware rules, when node types carry `startup` (launch to
//     usable) and, for the first, task shapes carry a duration estimate:
//     queued short tasks that nodes already there will start soon are not
//     launched for, and a new node is launched only for at least its
//     startup's worth of work (PlannerPolicy::launch_payback); idle nodes
//     are released after a fraction of their startup instead of the full
//     idle timeout (PlannerPolicy::keep_idle_startups). Without those
//     inputs the plan is Ray's.
// Other differences from Ray: resource amounts of 0 are dropped from shapes
// (Ray counts them in its sort key); node types' resources are used as given
// (Ray overwrites CPU/GPU/memory with what the first connected node of the
// type reports: pass those figures in if you want that); Ray's implicit
// "node:__internal_implicit_resource_*" default of 1 is not modelled.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/node.hpp"

namespace raycluster {

// Resource name -> amount ("CPU", "GPU", "memory" in bytes, custom names).
// Kept sorted by name, one entry per name; amounts of 0 are dropped.
class ResourceMap {
 public:
  using Entry = std::pair<std::string, double>;

  ResourceMap() = default;
  ResourceMap(std::initializer_list<Entry> entries);

  // Sets (replacing) one amount; 0 removes the name.
  void set(std::string_view name, double amount);
  // The amount of `name`, 0 when absent.
  double get(std::string_view name) const noexcept;
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  const std::vector<Entry>& entries() const noexcept { return entries_; }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }

  // Canonical compact JSON, keys sorted: {"CPU":1,"GPU":0.5}.
  std::string to_json() const;

  friend bool operator==(const ResourceMap&, const ResourceMap&) = default;
  friend bool operator<(const ResourceMap& a, const ResourceMap& b) {
    return a.entries_ < b.entries_;
  }

 private:
  std::vector<Entry> entries_;
};

// A shape and how many bundles of it (aggregated demand).
struct ResourceDemand {
  ResourceMap shape;
  std::int64_t count = 1;
};

// How long a task of one shape is expected to run once started (for
// example the mean of recently finished tasks of that shape).
struct TaskDurationEstimate {
  ResourceMap shape;
  std::chrono::milliseconds mean{0};
};

// How long the oldest queued task of one shape has waited (for the wait
// guard, PlannerPolicy::payback_wait_startups).
struct QueueWait {
  ResourceMap shape;
  std::chrono::milliseconds oldest{0};
};

struct PlannerNodeType {
  std::string name;
  ResourceMap resources;  // what one node of this type offers
  int min_workers = 0;
  int max_workers = 0;
  std::optional<double> idle_timeout_minutes;  // overrides the policy's
  std::optional<double> cost_per_hour;         // enables cost-aware choice
  // Expected time from launch until a node of this type can run tasks (boot
  // plus setup). Enables the startup-aware rules (see PlannerPolicy).
  std::optional<std::chrono::milliseconds> startup;
};

struct PlannerNode {
  std::string id;
  std::string node_type;  // user node type; unknown types are terminated
  NodeKind kind = NodeKind::worker;
  // Static capacity and what is free now; nullopt = not reported yet, the
  // type's resources are used (as Ray does for nodes not yet connected).
  std::optional<ResourceMap> total;
  std::optional<ResourceMap> available;
  // Ray's setup status (raycluster::status): "up-to-date" counts as running;
  // "update-failed" is terminated (failed_setup); others count as pending.
  std::string status = status::up_to_date;
  // How long the node has had nothing running (0 = busy now).
  std::chrono::milliseconds idle_for{0};
  // False when the node's launch config hash differs from the current one.
  bool launch_config_ok = true;
  // Time since the node was launched, when known; a pending node is then
  // expected to be usable after its type's startup minus this.
  std::optional<std::chrono::milliseconds> age;
};

enum class PlacementStrategy { pack, spread, strict_pack, strict_spread };

struct PlacementGroup {
  std::string id;
  PlacementStrategy strategy = PlacementStrategy::pack;
  std::vector<ResourceMap> bundles;  // the bundles not placed yet
};

struct PlannerPolicy {
  int max_workers = 0;  // cluster-wide, workers only (the head is extra)
  double upscaling_speed = 1.0;
  double idle_timeout_minutes = 5.0;
  // Duration-aware upscaling. Applies to a task shape when its duration
  // estimate is given (PlannerInput::task_durations) and every node type
  // that can hold it has a `startup`; T is the least such startup and d the
  // estimate. Over the horizon H = T * (1 + launch_payback):
  //   * queued tasks that the nodes already there or launching will start
  //     by the end of H are not launched for: a slot usable in r (0 for a
  //     running node; a pending node after its remaining startup) starts
  //     (H - r) / d of them beyond the one first fit places on a free slot,
  //     less one task per slot held back as a margin for the spread of run
  //     times. A busy slot counts the same: its current task started at an
  //     unknown time, and on average (a stationary renewal process) a slot
  //     ends one task every d;
  //   * each new slot is counted for max(1, launch_payback * T / d) of the
  //     remaining tasks (not rounded), so a new node is launched only for
  //     at least launch_payback x its startup of queued work.
  // The no-thrash check always uses the whole queue. 0 turns the rules off.
  double launch_payback = 1.5;
  // Wait guard of the rules above, for shapes whose oldest queued task's
  // wait is given (PlannerInput::queue_waits): with g = payback_wait_startups
  // x T, when that task has waited at least g and the estimate d is at least
  // g too, running nodes' slots get no follow-on credit for the shape this
  // round (first fit still fills their free slots; pending nodes keep their
  // credit, and new slots their payback). A busy slot's
  // credit rests on its tasks ending every d; for tasks that long it rests
  // on one or two ends per slot, and a queue already g old says they are not
  // ending as estimated (early on, only the shortest tasks have finished and
  // the mean is too short). Shorter tasks turn a slot over many times within
  // the horizon, and there an old queue is the length of a burst held back
  // on purpose, not a wrong estimate. 0 (or no queue_waits): no guard.
  double payback_wait_startups = 0.5;
  // Ski rental: when > 0, an idle worker whose type has a `startup` is
  // released after min(its idle timeout, keep_idle_startups x startup)
  // (still subject to the no-thrash rule). For an idle gap that ends with
  // new work, keeping the node k x startup and then releasing it costs at
  // most 1 + 1/k times the better of the two choices made knowing the gap
  // (keep it throughout, or release at once and start a node again): 2 for
  // the classic k = 1. A gap with no new work costs k x startup of idle.
  // The default 1/3 releases sooner (worst case 4x on that part): under a
  // packing scheduler the node that goes idle is the least needed one, and
  // on the traces of bench/README.md (trace-sim) it beats 1 on node-hours
  // at the same p99 wait. 0 turns the rule off (Ray's plain idle timeout).
  double keep_idle_startups = 1.0 / 3;
};

struct PlannerInput {
  std::string head_node_type;
  std::vector<PlannerNodeType> node_types;
  std::vector<PlannerNode> nodes;
  std::map<std::string, int> launching;  // launches in flight per type (unknown types ignored)
  std::vector<ResourceDemand> demands;   // pending bundles (may repeat shapes)
  std::vector<PlacementGroup> placement_groups;
  std::vector<ResourceDemand> resource_requests;  // request_resources() floors
  // Expected run time per task shape (optional; see PlannerPolicy).
  std::vector<TaskDurationEstimate> task_durations;
  // How long the oldest queued task of each shape has waited (optional; see
  // PlannerPolicy::payback_wait_startups).
  std::vector<QueueWait> queue_waits;
  PlannerPolicy policy;
  // Type -> time until which it must not be launched (after a launch failure).
  std::map<std::string, std::chrono::system_clock::time_point> cooldowns;
  std::chrono::system_clock::time_point now{};
};

enum class LaunchReason { min_workers, request_resources, placement_group, demand };
const char* launch_reason_name(LaunchReason r) noexcept;

enum class TerminationReason { idle, outdated, above_max, type_removed, failed_setup };
const char* termination_reason_name(TerminationReason r) noexcept;

struct LaunchDecision {
  std::string node_type;
  int count = 0;
  LaunchReason reason = LaunchReason::demand;
  friend bool operator==(const LaunchDecision&, const LaunchDecision&) = default;
};

struct TerminationDecision {
  std::string node_id;
  std::string node_type;
  TerminationReason reason = TerminationReason::idle;
  friend bool operator==(const TerminationDecision&, const TerminationDecision&) = default;
};

struct Plan {
  // One entry per (type, reason) with count > 0, sorted by type then reason.
  // After the upscaling_speed cap, launches are attributed to reasons in the
  // order min_workers, request_resources, placement_group, demand.
  std::vector<LaunchDecision> launches;
  // In input order of the nodes.
  std::vector<TerminationDecision> terminations;
  // Demand that fits no node type at all (shape -> count), sorted by shape.
  std::vector<ResourceDemand> infeasible;
  // Demand (tasks and placement-group bundles) still without a place after
  // this plan's launches before the upscaling_speed cap (Ray's
  // "final unfulfilled"); includes the infeasible shapes. Sorted by shape.
  // Tasks the duration-aware rule expects existing nodes to start within
  // its horizon count as placed.
  std::vector<ResourceDemand> unfulfilled;

  // Total launches of one type over all reasons.
  int launch_count(std::string_view node_type) const noexcept;
  // Per-type totals, sorted by type.
  std::map<std::string, int> launch_totals() const;
};

// Plans one autoscaling round. Pure; see the top of this header.
Plan plan(const PlannerInput& input);

}  // namespace raycluster
