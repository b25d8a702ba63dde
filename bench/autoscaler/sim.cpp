// trace-sim's simulated cluster and policies (sim.hpp).
#include "sim.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <utility>
#include <vector>

namespace tracesim {

const char* policy_name(PolicyKind p) { return p == PolicyKind::ours ? "ours" : "ray-v1"; }

namespace {

constexpr ms_t kTickMs = 5 * kSec;  // monitor interval (Ray's AUTOSCALER_UPDATE_INTERVAL_S)

struct SimNode {
  std::string id;
  int type = 0;
  ms_t launched = 0;
  ms_t ready = 0;
  ms_t terminated = -1;
  std::vector<double> used;  // per resource
  int running = 0;
  ms_t idle_since = 0;
  ms_t idle_total = 0;  // ready with nothing running
  ms_t last_used = -1;  // last tick it was seen busy (-1: not seen yet)
};

double percentile(std::vector<ms_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank.
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  const std::size_t idx = rank == 0 ? 0 : std::min(v.size() - 1, rank - 1);
  return static_cast<double>(v[idx]) / 1000.0;
}

class Sim {
 public:
  Sim(const Workload& w, PolicyKind policy, const OursOptions& o, std::FILE* explain)
      : w_(w), c_(w.cluster), tasks_(w.tasks), policy_(policy), o_(o), explain_(explain) {
    for (const Resources& s : w.shapes)
      for (const auto& kv : s) intern(kv.first);
    for (const NodeTypeSpec& t : c_.node_types)
      for (const auto& kv : t.resources) intern(kv.first);
    for (const Resources& s : w.shapes) shapes_.push_back(dense(s));
    for (const NodeTypeSpec& t : c_.node_types) caps_.push_back(dense(t.resources));
    queues_.resize(shapes_.size());
    finished_.assign(shapes_.size(), 0);
    finished_ms_.assign(shapes_.size(), 0.0);
    running_on_.assign(tasks_.size(), -1);
    start_.assign(tasks_.size(), -1);
  }

  Result run();

 private:
  void intern(const std::string& name) {
    if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  }
  std::vector<double> dense(const Resources& r) const {
    std::vector<double> v(names_.size(), 0);
    for (std::size_t k = 0; k < names_.size(); ++k)
      if (auto it = r.find(names_[k]); it != r.end()) v[k] = it->second;
    return v;
  }
  raycluster::ResourceMap resource_map(const std::vector<double>& v) const {
    raycluster::ResourceMap m;
    for (std::size_t k = 0; k < names_.size(); ++k) m.set(names_[k], v[k]);
    return m;
  }

  int alive_workers() const {
    int n = 0;
    for (const SimNode& nd : nodes_) n += nd.terminated < 0 ? 1 : 0;
    return n;
  }

  void complete(std::size_t ti, ms_t now);
  bool fits(const SimNode& nd, const std::vector<double>& s) const {
    const auto& cap = caps_[static_cast<std::size_t>(nd.type)];
    for (std::size_t k = 0; k < s.size(); ++k)
      if (nd.used[k] + s[k] > cap[k] + 1e-9) return false;
    return true;
  }
  void schedule(ms_t now);
  void place(std::size_t shape, std::size_t node, ms_t now);
  raycluster::PlannerInput planner_input(ms_t now) const;
  void add_nodes(raycluster::PlannerInput& in, ms_t now) const;
  std::vector<std::int64_t> demand_counts() const;
  void terminate(std::size_t n, ms_t now);
  void autoscale(ms_t now);
  void launch(int type, ms_t now);
  Result report(ms_t end) const;
  void explain(ms_t now, const raycluster::PlannerInput& in, const raycluster::Plan& p) const;

  double idle_minutes() const {
    return o_.idle_minutes >= 0 ? o_.idle_minutes : static_cast<double>(c_.idle_timeout_ms) / kMin;
  }

  const Workload& w_;
  const ClusterSpec& c_;
  std::vector<Task> tasks_;
  PolicyKind policy_;
  OursOptions o_;
  std::FILE* explain_ = nullptr;
  std::vector<std::string> names_;
  std::vector<std::vector<double>> shapes_;
  std::vector<std::vector<double>> caps_;
  std::vector<std::deque<std::size_t>> queues_;  // per shape, task indices
  std::size_t queued_ = 0;
  std::vector<std::int64_t> finished_;  // per shape: tasks finished so far
  std::vector<double> finished_ms_;     // and their total run time
  std::vector<SimNode> nodes_;
  std::vector<int> running_on_;
  std::vector<ms_t> start_;
  using Ev = std::pair<ms_t, std::size_t>;
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> completions_;
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> readies_;
  int launches_ = 0;
  int terminations_ = 0;
  int peak_workers_ = 0;
};

Result Sim::run() {
  std::size_t next_arrival = 0;
  std::size_t done = 0;
  ms_t next_tick = 0;
  ms_t now = 0;
  const ms_t horizon = (tasks_.empty() ? 0 : tasks_.back().arrival) + 48 * kHour;
  while (now <= horizon) {
    // Next event: arrival, completion, node ready, tick.
    ms_t t = next_tick;
    if (next_arrival < tasks_.size()) t = std::min(t, tasks_[next_arrival].arrival);
    if (!completions_.empty()) t = std::min(t, completions_.top().first);
    if (!readies_.empty()) t = std::min(t, readies_.top().first);
    now = t;
    while (!completions_.empty() && completions_.top().first <= now) {
      const std::size_t ti = completions_.top().second;
      completions_.pop();
      complete(ti, now);
      ++done;
    }
    while (!readies_.empty() && readies_.top().first <= now) readies_.pop();
    while (next_arrival < tasks_.size() && tasks_[next_arrival].arrival <= now) {
      queues_[static_cast<std::size_t>(tasks_[next_arrival].shape)].push_back(next_arrival);
      ++queued_;
      ++next_arrival;
    }
    schedule(now);
    if (now >= next_tick) {
      autoscale(now);
      next_tick = now + kTickMs;
      if (done == tasks_.size() && alive_workers() == 0) break;
    }
  }
  return report(now);
}

void Sim::complete(std::size_t ti, ms_t now) {
  const Task& t = tasks_[ti];
  const auto s = static_cast<std::size_t>(t.shape);
  ++finished_[s];
  finished_ms_[s] += static_cast<double>(t.duration);
  SimNode& nd = nodes_[static_cast<std::size_t>(running_on_[ti])];
  for (std::size_t k = 0; k < names_.size(); ++k) nd.used[k] -= shapes_[s][k];
  if (--nd.running == 0) {
    std::fill(nd.used.begin(), nd.used.end(), 0.0);
    nd.idle_since = now;
  }
}

// FIFO over the queue with first fit onto usable nodes (in launch order);
// a shape that fits nowhere is skipped for the rest of the pass, so later
// tasks of other shapes may go first (as Ray's scheduler lets them).
void Sim::schedule(ms_t now) {
  if (queued_ == 0) return;
  std::vector<char> blocked(shapes_.size(), 0);
  while (true) {
    // The earliest queued task among unblocked shapes.
    int best = -1;
    for (std::size_t s = 0; s < shapes_.size(); ++s) {
      if (blocked[s] || queues_[s].empty()) continue;
      if (best < 0 || queues_[s].front() < queues_[static_cast<std::size_t>(best)].front()) best = static_cast<int>(s);
    }
    if (best < 0) return;
    const auto bs = static_cast<std::size_t>(best);
    int placed = -1;
    for (std::size_t n = 0; n < nodes_.size() && placed < 0; ++n) {
      const SimNode& nd = nodes_[n];
      if (nd.terminated < 0 && nd.ready <= now && fits(nd, shapes_[bs])) placed = static_cast<int>(n);
    }
    if (placed < 0) {
      blocked[bs] = 1;
      continue;
    }
    place(bs, static_cast<std::size_t>(placed), now);
  }
}

void Sim::place(std::size_t shape, std::size_t node, ms_t now) {
  const std::size_t ti = queues_[shape].front();
  queues_[shape].pop_front();
  --queued_;
  SimNode& nd = nodes_[node];
  if (nd.running == 0) nd.idle_total += now - nd.idle_since;
  for (std::size_t k = 0; k < names_.size(); ++k) nd.used[k] += shapes_[shape][k];
  ++nd.running;
  start_[ti] = now;
  running_on_[ti] = static_cast<int>(node);
  completions_.push({now + tasks_[ti].duration, ti});
}

void Sim::add_nodes(raycluster::PlannerInput& in, ms_t now) const {
  raycluster::PlannerNode head;
  head.id = "head";
  head.node_type = "head";
  head.kind = raycluster::NodeKind::head;
  head.total = raycluster::ResourceMap{};
  head.available = raycluster::ResourceMap{};
  in.nodes.push_back(std::move(head));
  for (const SimNode& nd : nodes_) {
    if (nd.terminated >= 0) continue;
    const auto& cap = caps_[static_cast<std::size_t>(nd.type)];
    raycluster::PlannerNode pn;
    pn.id = nd.id;
    pn.node_type = c_.node_types[static_cast<std::size_t>(nd.type)].name;
    pn.total = resource_map(cap);
    if (nd.ready > now) {
      pn.status = now < nd.launched + c_.boot_ms ? raycluster::status::waiting_for_ssh
                                                 : raycluster::status::setting_up;
      pn.available = pn.total;
      if (policy_ == PolicyKind::ours) pn.age = std::chrono::milliseconds(now - nd.launched);
    } else {
      std::vector<double> free = cap;
      for (std::size_t k = 0; k < free.size(); ++k) free[k] -= nd.used[k];
      pn.available = resource_map(free);
      // Idle time as the monitor sees it: since the last tick it was busy.
      if (nd.running == 0) pn.idle_for = std::chrono::milliseconds(now - nd.last_used);
    }
    in.nodes.push_back(std::move(pn));
  }
}

// Pending demand per shape in queue order; Ray clips it at 1,000 bundles.
std::vector<std::int64_t> Sim::demand_counts() const {
  const std::size_t limit = policy_ == PolicyKind::ours ? queued_ : std::min<std::size_t>(queued_, 1000);
  std::vector<std::int64_t> counts(shapes_.size(), 0);
  if (limit == queued_) {
    for (std::size_t s = 0; s < shapes_.size(); ++s) counts[s] = static_cast<std::int64_t>(queues_[s].size());
    return counts;
  }
  std::vector<std::size_t> pos(shapes_.size(), 0);
  for (std::size_t k = 0; k < limit; ++k) {
    std::size_t best = shapes_.size();
    for (std::size_t s = 0; s < shapes_.size(); ++s) {
      if (pos[s] >= queues_[s].size()) continue;
      if (best == shapes_.size() || queues_[s][pos[s]] < queues_[best][pos[best]]) best = s;
    }
    ++pos[best];
    ++counts[best];
  }
  return counts;
}

raycluster::PlannerInput Sim::planner_input(ms_t now) const {
  raycluster::PlannerInput in;
  in.head_node_type = "head";
  raycluster::PlannerNodeType head_type;
  head_type.name = "head";
  in.node_types.push_back(std::move(head_type));
  for (std::size_t t = 0; t < c_.node_types.size(); ++t) {
    const NodeTypeSpec& nt = c_.node_types[t];
    raycluster::PlannerNodeType pt;
    pt.name = nt.name;
    pt.resources = resource_map(caps_[t]);
    pt.max_workers = nt.max_workers;
    if (policy_ == PolicyKind::ours) {
      if (nt.cost_per_hour > 0) pt.cost_per_hour = nt.cost_per_hour;
      pt.startup = std::chrono::milliseconds(c_.startup_ms());
    }
    in.node_types.push_back(std::move(pt));
  }
  add_nodes(in, now);
  const std::vector<std::int64_t> counts = demand_counts();
  for (std::size_t s = 0; s < shapes_.size(); ++s)
    if (counts[s] > 0) in.demands.push_back({resource_map(shapes_[s]), counts[s]});
  in.policy.max_workers = c_.max_workers;
  if (policy_ == PolicyKind::ours) {
    in.policy.upscaling_speed = o_.speed;
    in.policy.idle_timeout_minutes = idle_minutes();
    in.policy.launch_payback = o_.payback;
    in.policy.keep_idle_startups = o_.keep_idle;
    in.policy.payback_wait_startups = o_.wait_guard;
    for (std::size_t s = 0; s < shapes_.size(); ++s)
      if (!queues_[s].empty())
        in.queue_waits.push_back({resource_map(shapes_[s]), std::chrono::milliseconds(now - tasks_[queues_[s].front()].arrival)});
    // Durations learnt online: the mean of the finished tasks of each shape.
    for (std::size_t s = 0; s < shapes_.size(); ++s) {
      if (finished_[s] == 0) continue;
      const auto mean = static_cast<std::int64_t>(finished_ms_[s] / static_cast<double>(finished_[s]));
      in.task_durations.push_back({resource_map(shapes_[s]), std::chrono::milliseconds(mean)});
    }
  } else {
    in.policy.upscaling_speed = 1.0;
    in.policy.launch_payback = 0;
    // The simulator applies Ray's idle rule itself (no no-thrash check), so
    // the planner must not terminate anything.
    in.policy.idle_timeout_minutes = 1e9;
  }
  in.now = std::chrono::system_clock::time_point{} + std::chrono::milliseconds(now);
  return in;
}

void Sim::terminate(std::size_t n, ms_t now) {
  SimNode& nd = nodes_[n];
  if (nd.terminated >= 0 || nd.running > 0) return;  // never kill running work
  nd.terminated = now;
  if (nd.ready <= now) nd.idle_total += now - nd.idle_since;
  ++terminations_;
}

void Sim::launch(int type, ms_t now) {
  SimNode nd;
  nd.id = "w" + std::to_string(nodes_.size());
  nd.type = type;
  nd.launched = now;
  nd.ready = now + c_.startup_ms();
  nd.idle_since = nd.ready;
  nd.used.assign(names_.size(), 0.0);
  readies_.push({nd.ready, nodes_.size()});
  nodes_.push_back(std::move(nd));
  ++launches_;
}

void Sim::autoscale(ms_t now) {
  // The monitor's view of usage, sampled once per tick as Ray's LoadMetrics
  // does: a node counts as used at this tick when anything runs on it; a
  // node seen for the first time starts as just used.
  for (SimNode& nd : nodes_) {
    if (nd.terminated >= 0 || nd.ready > now) continue;
    if (nd.last_used < 0 || nd.running > 0) nd.last_used = now;
  }
  if (policy_ == PolicyKind::ray_v1) {
    // Ray terminates idle nodes first, then plans launches without them.
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      const SimNode& nd = nodes_[n];
      if (nd.terminated < 0 && nd.ready <= now && now - nd.last_used > c_.idle_timeout_ms) terminate(n, now);
    }
  }
  const raycluster::PlannerInput in = planner_input(now);
  const raycluster::Plan p = raycluster::plan(in);
  if (explain_) explain(now, in, p);
  std::map<std::string, std::size_t> by_id;
  for (std::size_t n = 0; n < nodes_.size(); ++n)
    if (nodes_[n].terminated < 0) by_id[nodes_[n].id] = n;
  for (const auto& td : p.terminations)
    if (auto it = by_id.find(td.node_id); it != by_id.end()) terminate(it->second, now);
  for (const auto& [type, count] : p.launch_totals()) {
    for (std::size_t k = 0; k < c_.node_types.size(); ++k)
      if (c_.node_types[k].name == type)
        for (int i = 0; i < count; ++i) launch(static_cast<int>(k), now);
  }
  peak_workers_ = std::max(peak_workers_, alive_workers());
}

void Sim::explain(ms_t now, const raycluster::PlannerInput& in, const raycluster::Plan& p) const {
  if (queued_ == 0 && p.launches.empty() && p.terminations.empty()) return;
  ms_t oldest = -1;
  for (const auto& q : queues_)
    if (!q.empty()) oldest = std::max(oldest, now - tasks_[q.front()].arrival);
  int usable = 0, busy = 0, pending = 0;
  for (const SimNode& nd : nodes_) {
    if (nd.terminated >= 0) continue;
    if (nd.ready > now) ++pending;
    else ++usable, busy += nd.running > 0 ? 1 : 0;
  }
  std::string d;
  for (const auto& e : in.task_durations) d += " " + std::to_string(e.mean.count() / 1000) + "s";
  std::string launches;
  for (const auto& [type, count] : p.launch_totals()) launches += " " + type + "x" + std::to_string(count);
  std::fprintf(explain_, "%s t=%.0fs queued=%zu oldest=%.0fs usable=%d busy=%d pending=%d est=[%s] launch=[%s] term=%zu\n",
               policy_name(policy_), static_cast<double>(now) / 1000, queued_,
               static_cast<double>(std::max<ms_t>(oldest, 0)) / 1000, usable, busy, pending,
               d.empty() ? "" : d.c_str() + 1, launches.empty() ? "" : launches.c_str() + 1, p.terminations.size());
}

Result Sim::report(ms_t end) const {
  Result r;
  r.workload = w_.name;
  r.policy = policy_name(policy_);
  r.tasks = tasks_.size();
  for (const SimNode& nd : nodes_) {
    const ms_t stop = nd.terminated >= 0 ? nd.terminated : end;
    const double h = static_cast<double>(stop - nd.launched) / static_cast<double>(kHour);
    r.node_hours += h;
    r.node_hours_by_type[c_.node_types[static_cast<std::size_t>(nd.type)].name] += h;
    r.boot_hours += static_cast<double>(std::min(stop, nd.ready) - nd.launched) / static_cast<double>(kHour);
    r.idle_hours += static_cast<double>(nd.idle_total) / static_cast<double>(kHour);
    r.cost += h * c_.node_types[static_cast<std::size_t>(nd.type)].cost_per_hour;
  }
  std::vector<ms_t> waits;
  waits.reserve(tasks_.size());
  for (std::size_t i = 0; i < tasks_.size(); ++i)
    waits.push_back(start_[i] >= 0 ? start_[i] - tasks_[i].arrival : end - tasks_[i].arrival);
  r.p50_wait_s = percentile(waits, 0.50);
  r.p99_wait_s = percentile(waits, 0.99);
  r.max_wait_s = percentile(waits, 1.0);
  r.max_wait_ms = waits.empty() ? 0 : *std::max_element(waits.begin(), waits.end());
  r.launches = launches_;
  r.terminations = terminations_;
  r.peak_workers = peak_workers_;
  r.sim_hours = static_cast<double>(end) / static_cast<double>(kHour);
  return r;
}

}  // namespace

Result simulate(const Workload& w, PolicyKind p, const OursOptions& ours, std::FILE* explain) {
  return Sim(w, p, ours, explain).run();
}

}  // namespace tracesim
