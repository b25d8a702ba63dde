#include "monitor/planner_input.hpp"

#include <algorithm>
#include <set>

#include "cluster/hashes.hpp"

namespace raycluster::detail {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

namespace {

// Resource names that say nothing about whether work runs on a node.
bool activity_resource(const std::string& name) {
  return name != "memory" && name != "object_store_memory" && name.rfind("node:", 0) != 0;
}

PlannerPolicy policy_of(const ClusterSpec& spec) {
  PlannerPolicy policy;
  policy.max_workers = spec.max_workers;
  policy.upscaling_speed = spec.upscaling_speed;
  policy.idle_timeout_minutes = spec.idle_timeout_minutes;
  // Off unless the config asks: it would shorten idle_timeout_minutes.
  policy.keep_idle_startups = spec.idle_release_after_startups;
  // Off unless the config asks (then the loop reads task durations from
  // Ray's state API; without them the rule does nothing either).
  policy.launch_payback = spec.launch_payback;
  return policy;
}

// `observed`: what a connected node of the type reports, type -> resources.
PlannerNodeType planner_node_type(const NodeTypeSpec& t,
                                  const std::map<std::string, ResourceMap>& observed,
                                  StartupEstimates& startups) {
  PlannerNodeType pt;
  pt.name = t.name;
  for (const auto& [k, v] : t.resources) pt.resources.set(k, v);
  // As Ray does: what a connected node of the type reports fills the
  // names the config leaves out (memory, object_store_memory, ...).
  if (auto it = observed.find(t.name); it != observed.end())
    for (const auto& [k, v] : it->second)
      if (k.rfind("node:", 0) != 0 && !t.resources.count(k)) pt.resources.set(k, v);
  pt.min_workers = t.min_workers;
  pt.max_workers = t.max_workers;
  pt.idle_timeout_minutes = t.idle_timeout_minutes;
  pt.startup = startups.of(t);
  return pt;
}

}  // namespace

// One live node; `rn` is its entry in Ray's report, if any.
PlannerNode PlannerInputBuilder::planner_node(const ClusterSpec& spec, const Node& n,
                                              const RayNodeLoad* rn, bool load_ok, Clock::time_point now) {
  PlannerNode p;
  p.id = n.id;
  p.node_type = n.node_type;
  p.kind = n.kind;
  p.status = n.setup_status();
  if (n.launch_time != Clock::time_point{})
    p.age = std::max(milliseconds(0),
                     std::chrono::duration_cast<milliseconds>(now - n.launch_time));
  if (const auto* t = spec.find_node_type(n.node_type)) {
    auto it = n.tags.find(tags::launch_config);
    p.launch_config_ok =
        it != n.tags.end() && it->second == detail::launch_hash(spec, *t, n.kind);
  }
  if (rn) {
    p.total = rn->total;
    p.available = rn->available;
    bool busy = false;
    for (const auto& [name, total] : rn->total)
      if (activity_resource(name) && rn->available.get(name) + 1e-9 < total) busy = true;
    if (rn->idle_for) {
      p.idle_for = *rn->idle_for;
      last_busy_[n.id] = now - *rn->idle_for;
    } else {
      if (busy || !last_busy_.count(n.id)) last_busy_[n.id] = now;
      p.idle_for = std::chrono::duration_cast<milliseconds>(now - last_busy_[n.id]);
    }
  } else {
    // Not in Ray's report (not connected yet, or no report): never idle.
    if (load_ok) last_busy_.erase(n.id);
    p.idle_for = milliseconds(0);
  }
  return p;
}

PlannerInput PlannerInputBuilder::build(const ClusterSpec& spec, const std::vector<Node>& nodes,
                                        const ClusterLoad& load, Clock::time_point now,
                                        SetupPool& setups, StartupEstimates& startups) {
  PlannerInput in;
  in.head_node_type = spec.head_node_type;
  in.policy = policy_of(spec);
  in.now = now;

  std::map<std::string, const RayNodeLoad*> by_ip;
  if (load.ok)
    for (const auto& rn : load.nodes)
      if (!rn.ip.empty()) by_ip[rn.ip] = &rn;

  std::map<std::string, ResourceMap> observed;  // type -> what its Ray nodes report
  std::set<std::string> seen;
  for (const auto& n : nodes) {
    if (!n.alive()) continue;
    seen.insert(n.id);
    const RayNodeLoad* rn = nullptr;
    if (auto it = by_ip.find(n.internal_ip); it != by_ip.end()) rn = it->second;
    PlannerNode p = planner_node(spec, n, rn, load.ok, now);
    // A node our updater works on is pending whatever its tag says now.
    if (setups.is_updating(n.id) && p.status == status::up_to_date) p.status = status::setting_up;
    if (rn) observed.emplace(n.node_type, rn->total);
    in.nodes.push_back(std::move(p));
  }
  for (auto it = last_busy_.begin(); it != last_busy_.end();)
    it = seen.count(it->first) ? std::next(it) : last_busy_.erase(it);

  for (const auto& t : spec.node_types) in.node_types.push_back(planner_node_type(t, observed, startups));
  if (load.ok) {
    in.demands = load.demands;
    in.placement_groups = load.placement_groups;
    in.resource_requests = load.resource_requests;
  }
  return in;
}

}  // namespace raycluster::detail
