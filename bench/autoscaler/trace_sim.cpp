// trace-sim: a trace simulator for the autoscaler, in simulated time.
//
// Five synthetic workloads (fixed seed each) run against a simulated cluster
// (a head with no task capacity, CPU and GPU worker types, a boot+setup delay
// before a launched node is usable) under two policies evaluated every tick:
//   ours      raycluster::plan() with the whole queue as (shape, count)
//             demand, costs and startup times on the node types, the ages
//             of pending nodes and task durations learnt from finished
//             tasks; Ray's default config except upscaling_speed 3; the
//             planner's default launch_payback and keep_idle_startups;
//   ray-v1    Ray's classic rules: demand clipped to the first 1,000 queued
//             bundles, upscaling_speed 1, no costs (Ray's scorer), idle
//             nodes terminated after 5 min by the simulator before planning,
//             with no no-thrash check.
// Both see usage as Ray's monitor does: sampled once per tick.
// Reported per workload and policy: worker node-hours (launch to
// termination, boot included), ratios to three lower bounds (see
// service_bound_hours and bench/README.md), p50/p99/max wait (queue entry ->
// start), launches, terminations.
// Usage: trace-sim [--out FILE] [--ours-speed X] [--ours-idle-min X]
//                  [--ours-payback X] [--ours-keep-idle X]
// (default bench/results/trace_sim.json).
// No wall clock, no sleeping: output is a function of the seeds only.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "autoscaler/autoscaler.hpp"

namespace {

using ms_t = std::int64_t;
constexpr ms_t kSec = 1000;
constexpr ms_t kMin = 60 * kSec;
constexpr ms_t kHour = 60 * kMin;

// ---- cluster model --------------------------------------------------------

struct NodeTypeSpec {
  std::string name;
  double cpu = 0;
  double gpu = 0;
  double cost_per_hour = 0;
  int max_workers = 0;
};

const std::vector<NodeTypeSpec>& node_types() {
  static const std::vector<NodeTypeSpec> types = {
      {"cpu8", 8, 0, 0.40, 250},
      {"gpu1", 8, 1, 3.00, 20},
  };
  return types;
}

constexpr ms_t kBootMs = 60 * kSec;   // instance boot until SSH answers
constexpr ms_t kSetupMs = 30 * kSec;  // setup commands, ray start
constexpr ms_t kTickMs = 5 * kSec;    // monitor interval
constexpr int kClusterMaxWorkers = 270;

struct Task {
  ms_t arrival = 0;
  ms_t duration = 0;
  double cpu = 0;
  double gpu = 0;
  ms_t start = -1;
  int shape = 0;  // index into the workload's distinct shapes
};

struct Workload {
  std::string name;
  std::uint64_t seed = 0;
  std::vector<Task> tasks;  // sorted by arrival
};

// ---- workloads ------------------------------------------------------------

ms_t to_ms(double seconds) { return static_cast<ms_t>(std::llround(seconds * 1000.0)); }

void finish(Workload& w) {
  std::stable_sort(w.tasks.begin(), w.tasks.end(),
                   [](const Task& a, const Task& b) { return a.arrival < b.arrival; });
}

// Poisson arrivals of `rate` per second for `hours`; {CPU:1} tasks running
// uniformly min_s..max_s seconds.
Workload poisson_cpu(const char* name, std::uint64_t seed, double rate, double hours,
                     double min_s, double max_s) {
  Workload w{name, seed, {}};
  std::mt19937_64 rng(w.seed);
  std::exponential_distribution<double> gap(rate);
  std::uniform_real_distribution<double> dur(min_s, max_s);
  for (double t = gap(rng); t < hours * 3600; t += gap(rng)) {
    w.tasks.push_back({to_ms(t), to_ms(dur(rng)), 1, 0, -1, 0});
  }
  finish(w);
  return w;
}

// Poisson arrivals, rate 0.5/s for 3 h; {CPU:1}, 30-300 s.
Workload steady() { return poisson_cpu("steady", 1001, 0.5, 3, 30, 300); }

// Every 20 min (after an idle gap) a burst of 400-1,500 short tasks within 10 s;
// {CPU:1}, 5-60 s. 3 h.
Workload bursty() {
  Workload w{"bursty", 2002, {}};
  std::mt19937_64 rng(w.seed);
  std::uniform_int_distribution<int> size(400, 1500);
  std::uniform_real_distribution<double> within(0, 10);
  std::uniform_real_distribution<double> dur(5, 60);
  for (double b = 60; b < 3 * 3600; b += 20 * 60) {
    const int n = size(rng);
    for (int i = 0; i < n; ++i) {
      w.tasks.push_back({to_ms(b + within(rng)), to_ms(dur(rng)), 1, 0, -1, 0});
    }
  }
  finish(w);
  return w;
}

// Sinusoidal rate 0.25 * (1 + 0.9 sin(2 pi t / 2 h)) per s (thinning), 4 h;
// {CPU:2}, 60-600 s.
Workload diurnal() {
  Workload w{"diurnal", 3003, {}};
  std::mt19937_64 rng(w.seed);
  const double peak = 0.25 * 1.9;
  std::exponential_distribution<double> gap(peak);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_real_distribution<double> dur(60, 600);
  const double pi = std::acos(-1.0);
  for (double t = gap(rng); t < 4 * 3600; t += gap(rng)) {
    const double rate = 0.25 * (1 + 0.9 * std::sin(2 * pi * t / 7200.0));
    if (u(rng) * peak <= rate) w.tasks.push_back({to_ms(t), to_ms(dur(rng)), 2, 0, -1, 0});
  }
  finish(w);
  return w;
}

// Many short tasks: Poisson 12/s for 2 h; {CPU:1}, 1-10 s.
Workload many_short() { return poisson_cpu("many_short", 4004, 12.0, 2, 1, 10); }

// Few long GPU tasks: 4 clumps (every 40 min) of 3-8 tasks {CPU:4, GPU:1},
// 30-60 min each.
Workload long_gpu() {
  Workload w{"long_gpu", 5005, {}};
  std::mt19937_64 rng(w.seed);
  std::uniform_int_distribution<int> size(3, 8);
  std::uniform_real_distribution<double> within(0, 120);
  std::uniform_real_distribution<double> dur(30 * 60, 60 * 60);
  for (int c = 0; c < 4; ++c) {
    const int n = size(rng);
    for (int i = 0; i < n; ++i) {
      w.tasks.push_back({to_ms(60 + c * 2400 + within(rng)), to_ms(dur(rng)), 4, 1, -1, 0});
    }
  }
  finish(w);
  return w;
}

// ---- lower bound ----------------------------------------------------------

// Node-hours of perfectly packed work: duration x min over fitting types of
// the task's dominant share max(cpu/type_cpu, gpu/type_gpu).
double lower_bound_node_hours(const Workload& w) {
  double total = 0;
  for (const Task& t : w.tasks) {
    double best = -1;
    for (const auto& nt : node_types()) {
      if (t.cpu > nt.cpu || t.gpu > nt.gpu) continue;
      double share = 0;
      if (t.cpu > 0) share = std::max(share, t.cpu / nt.cpu);
      if (t.gpu > 0) share = std::max(share, t.gpu / nt.gpu);
      if (best < 0 || share < best) best = share;
    }
    total += best * static_cast<double>(t.duration) / static_cast<double>(kHour);
  }
  return total;
}

double lower_bound_cost(const Workload& w) {
  double total = 0;
  for (const Task& t : w.tasks) {
    double best = -1;
    for (const auto& nt : node_types()) {
      if (t.cpu > nt.cpu || t.gpu > nt.gpu) continue;
      double share = 0;
      if (t.cpu > 0) share = std::max(share, t.cpu / nt.cpu);
      if (t.gpu > 0) share = std::max(share, t.gpu / nt.gpu);
      const double c = share * nt.cost_per_hour;
      if (best < 0 || c < best) best = c;
    }
    total += best * static_cast<double>(t.duration) / static_cast<double>(kHour);
  }
  return total;
}

// Smallest share of one node any fitting type gives the task (its dominant
// share of that type's capacity).
double min_share(const Task& t) {
  double best = -1;
  for (const auto& nt : node_types()) {
    if (t.cpu > nt.cpu || t.gpu > nt.gpu) continue;
    double share = 0;
    if (t.cpu > 0) share = std::max(share, t.cpu / nt.cpu);
    if (t.gpu > 0) share = std::max(share, t.gpu / nt.gpu);
    if (best < 0 || share < best) best = share;
  }
  return best;
}

// Lower bound on worker node-hours of ANY policy, clairvoyant or not, under
// which no task waits more than `max_wait` for capacity, with every node
// billed from launch and usable only kStartupMs later. The argument is in
// bench/README.md ("Lower bounds"); it is the larger of two bounds:
//   level:  task j surely runs during [a_j + W, a_j + d_j), so at least
//           N(t) = ceil(sum of its shares) nodes are usable at t. Level k of
//           N pays its on-time, one startup before it first turns on, and
//           min(gap, startup) for each gap (kept warm, or off and started
//           again);
//   window: the union of the intervals [a_j, a_j + W + d_j] splits into
//           windows; window i holds work E_i that needs k_i >= E_i / L_i
//           nodes, each of which pays min(gap before i, startup) beyond it.
double service_bound_hours(const Workload& w, ms_t max_wait) {
  const auto startup = static_cast<double>(kBootMs + kSetupMs);
  // Level bound.
  std::vector<std::pair<ms_t, double>> ev;
  for (const Task& t : w.tasks) {
    if (t.duration <= max_wait) continue;
    const double q = min_share(t);
    ev.emplace_back(t.arrival + max_wait, q);
    ev.emplace_back(t.arrival + t.duration, -q);
  }
  std::sort(ev.begin(), ev.end());
  double level = 0, sum = 0;
  int n = 0;
  ms_t prev = 0;
  std::vector<ms_t> last_off;  // per level (index k-1); -1: never on
  for (std::size_t i = 0; i < ev.size();) {
    const ms_t t = ev[i].first;
    level += static_cast<double>(n) * static_cast<double>(t - prev);
    while (i < ev.size() && ev[i].first == t) sum += ev[i++].second;
    const int m = std::max(0, static_cast<int>(std::ceil(sum - 1e-9)));
    if (static_cast<int>(last_off.size()) < m) last_off.resize(static_cast<std::size_t>(m), -1);
    for (int k = n + 1; k <= m; ++k) {
      const ms_t off = last_off[static_cast<std::size_t>(k - 1)];
      level += off < 0 ? startup : std::min(static_cast<double>(t - off), startup);
    }
    for (int k = m + 1; k <= n; ++k) last_off[static_cast<std::size_t>(k - 1)] = t;
    n = m;
    prev = t;
  }
  // Window bound (tasks are sorted by arrival).
  double window = 0;
  ms_t start = -1, end = -1, prev_end = -1;
  double work = 0;
  auto close = [&]() {
    if (start < 0) return;
    const double len = static_cast<double>(end - start);
    const double k = std::max(1.0, std::ceil(work / len - 1e-9));
    const double gap = prev_end < 0 ? startup : std::min(static_cast<double>(start - prev_end), startup);
    window += work + k * gap;
    prev_end = end;
  };
  for (const Task& t : w.tasks) {
    const ms_t a = t.arrival, b = t.arrival + max_wait + t.duration;
    if (start < 0 || a > end) {
      close();
      start = a, end = b, work = 0;
    }
    end = std::max(end, b);
    work += min_share(t) * static_cast<double>(t.duration);
  }
  close();
  return std::max(level, window) / static_cast<double>(kHour);
}

// ---- simulation -----------------------------------------------------------

// Settings of the `ours` policy (command-line options).
// Defaults: Ray's default config except upscaling_speed 3, and the
// planner's own defaults for its rules.
struct OursOptions {
  double speed = 3.0;                                             // upscaling_speed
  double idle_minutes = 5.0;                                      // idle_timeout_minutes
  double payback = raycluster::PlannerPolicy{}.launch_payback;    // launch_payback
  double keep_idle = raycluster::PlannerPolicy{}.keep_idle_startups;  // keep_idle_startups
};
OursOptions& opts() {
  static OursOptions o;
  return o;
}

enum class PolicyKind { ours, ray_v1 };

const char* policy_name(PolicyKind p) { return p == PolicyKind::ours ? "ours" : "ray-v1"; }

struct SimNode {
  std::string id;
  int type = 0;
  ms_t launched = 0;
  ms_t ready = 0;
  ms_t terminated = -1;
  double used_cpu = 0;
  double used_gpu = 0;
  int running = 0;
  ms_t idle_since = 0;
  ms_t idle_total = 0;  // ready with nothing running
  ms_t last_used = -1;  // last tick it was seen busy (-1: not seen yet)
};

struct Result {
  std::string workload;
  std::string policy;
  std::size_t tasks = 0;
  double node_hours = 0;
  double boot_hours = 0;
  double idle_hours = 0;
  double cost = 0;
  double lower_bound = 0;
  double lower_bound_cost = 0;
  double p50_wait_s = 0;
  double p99_wait_s = 0;
  double max_wait_s = 0;
  int launches = 0;
  int terminations = 0;
  int peak_workers = 0;
  double sim_hours = 0;
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
  Sim(const Workload& w, PolicyKind policy) : w_(w), tasks_(w.tasks), policy_(policy) {
    // Distinct shapes, in order of first appearance.
    std::map<std::pair<double, double>, int> index;
    for (Task& t : tasks_) {
      auto [it, fresh] = index.emplace(std::make_pair(t.cpu, t.gpu), static_cast<int>(shapes_.size()));
      if (fresh) shapes_.push_back({t.cpu, t.gpu});
      t.shape = it->second;
    }
    queues_.resize(shapes_.size());
    finished_.assign(shapes_.size(), 0);
    finished_ms_.assign(shapes_.size(), 0.0);
    running_on_.assign(tasks_.size(), -1);
  }

  Result run() {
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

 private:
  struct Shape {
    double cpu;
    double gpu;
  };

  int alive_workers() const {
    int n = 0;
    for (const SimNode& nd : nodes_) n += nd.terminated < 0 ? 1 : 0;
    return n;
  }

  void complete(std::size_t ti, ms_t now) {
    const Task& t = tasks_[ti];
    ++finished_[static_cast<std::size_t>(t.shape)];
    finished_ms_[static_cast<std::size_t>(t.shape)] += static_cast<double>(t.duration);
    SimNode& nd = nodes_[static_cast<std::size_t>(running_on_[ti])];
    nd.used_cpu -= t.cpu;
    nd.used_gpu -= t.gpu;
    if (--nd.running == 0) {
      nd.used_cpu = 0;
      nd.used_gpu = 0;
      nd.idle_since = now;
    }
  }

  bool fits(const SimNode& nd, const Shape& s) const {
    const auto& nt = node_types()[static_cast<std::size_t>(nd.type)];
    return nd.used_cpu + s.cpu <= nt.cpu + 1e-9 && nd.used_gpu + s.gpu <= nt.gpu + 1e-9;
  }

  // FIFO over the queue with first fit onto usable nodes (in launch order);
  // a shape that fits nowhere is skipped for the rest of the pass, so later
  // tasks of other shapes may go first (as Ray's scheduler lets them).
  void schedule(ms_t now) {
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
      const Shape& sh = shapes_[bs];
      int placed = -1;
      for (std::size_t n = 0; n < nodes_.size(); ++n) {
        const SimNode& nd = nodes_[n];
        if (nd.terminated >= 0 || nd.ready > now) continue;
        if (fits(nd, sh)) {
          placed = static_cast<int>(n);
          break;
        }
      }
      if (placed < 0) {
        blocked[bs] = 1;
        continue;
      }
      const std::size_t ti = queues_[bs].front();
      queues_[bs].pop_front();
      --queued_;
      Task& t = tasks_[ti];
      SimNode& nd = nodes_[static_cast<std::size_t>(placed)];
      if (nd.running == 0) nd.idle_total += now - nd.idle_since;
      nd.used_cpu += t.cpu;
      nd.used_gpu += t.gpu;
      ++nd.running;
      t.start = now;
      running_on_[ti] = placed;
      completions_.push({now + t.duration, ti});
    }
  }

  raycluster::PlannerInput planner_input(ms_t now) const {
    using raycluster::ResourceMap;
    raycluster::PlannerInput in;
    in.head_node_type = "head";
    raycluster::PlannerNodeType head_type;
    head_type.name = "head";
    in.node_types.push_back(std::move(head_type));
    for (const auto& nt : node_types()) {
      raycluster::PlannerNodeType pt;
      pt.name = nt.name;
      pt.resources = ResourceMap{{"CPU", nt.cpu}, {"GPU", nt.gpu}};
      pt.max_workers = nt.max_workers;
      if (policy_ == PolicyKind::ours) {
        pt.cost_per_hour = nt.cost_per_hour;
        pt.startup = std::chrono::milliseconds(kBootMs + kSetupMs);
      }
      in.node_types.push_back(std::move(pt));
    }
    raycluster::PlannerNode head;
    head.id = "head";
    head.node_type = "head";
    head.kind = raycluster::NodeKind::head;
    head.total = ResourceMap{};
    head.available = ResourceMap{};
    in.nodes.push_back(std::move(head));
    for (const SimNode& nd : nodes_) {
      if (nd.terminated >= 0) continue;
      const auto& nt = node_types()[static_cast<std::size_t>(nd.type)];
      raycluster::PlannerNode pn;
      pn.id = nd.id;
      pn.node_type = nt.name;
      pn.total = ResourceMap{{"CPU", nt.cpu}, {"GPU", nt.gpu}};
      if (nd.ready > now) {
        pn.status = now < nd.launched + kBootMs ? raycluster::status::waiting_for_ssh
                                                : raycluster::status::setting_up;
        pn.available = pn.total;
        if (policy_ == PolicyKind::ours) pn.age = std::chrono::milliseconds(now - nd.launched);
      } else {
        pn.available = ResourceMap{{"CPU", nt.cpu - nd.used_cpu}, {"GPU", nt.gpu - nd.used_gpu}};
        // Idle time as the monitor sees it: since the last tick it was busy.
        if (nd.running == 0) pn.idle_for = std::chrono::milliseconds(now - nd.last_used);
      }
      in.nodes.push_back(std::move(pn));
    }
    // Pending demand in queue order; Ray clips it at 1,000 bundles.
    const std::size_t limit = policy_ == PolicyKind::ours ? queued_ : std::min<std::size_t>(queued_, 1000);
    std::vector<std::int64_t> counts(shapes_.size(), 0);
    if (limit == queued_) {
      for (std::size_t s = 0; s < shapes_.size(); ++s) counts[s] = static_cast<std::int64_t>(queues_[s].size());
    } else {
      std::vector<std::size_t> pos(shapes_.size(), 0);
      for (std::size_t k = 0; k < limit; ++k) {
        int best = -1;
        for (std::size_t s = 0; s < shapes_.size(); ++s) {
          if (pos[s] >= queues_[s].size()) continue;
          if (best < 0 || queues_[s][pos[s]] < queues_[static_cast<std::size_t>(best)][pos[static_cast<std::size_t>(best)]]) {
            best = static_cast<int>(s);
          }
        }
        ++pos[static_cast<std::size_t>(best)];
        ++counts[static_cast<std::size_t>(best)];
      }
    }
    for (std::size_t s = 0; s < shapes_.size(); ++s) {
      if (counts[s] == 0) continue;
      in.demands.push_back({ResourceMap{{"CPU", shapes_[s].cpu}, {"GPU", shapes_[s].gpu}}, counts[s]});
    }
    in.policy.max_workers = kClusterMaxWorkers;
    if (policy_ == PolicyKind::ours) {
      in.policy.upscaling_speed = opts().speed;
      in.policy.idle_timeout_minutes = opts().idle_minutes;
      in.policy.launch_payback = opts().payback;
      in.policy.keep_idle_startups = opts().keep_idle;
      // Durations learnt online: the mean of the finished tasks of each shape.
      for (std::size_t s = 0; s < shapes_.size(); ++s) {
        if (finished_[s] == 0) continue;
        const auto mean = static_cast<std::int64_t>(finished_ms_[s] / static_cast<double>(finished_[s]));
        in.task_durations.push_back({ResourceMap{{"CPU", shapes_[s].cpu}, {"GPU", shapes_[s].gpu}},
                                     std::chrono::milliseconds(mean)});
      }
    } else {
      in.policy.upscaling_speed = 1.0;
      in.policy.launch_payback = 0;
      // The simulator applies Ray's 5 min idle rule itself (no no-thrash
      // check), so the planner must not terminate anything.
      in.policy.idle_timeout_minutes = 1e9;
    }
    in.now = std::chrono::system_clock::time_point{} + std::chrono::milliseconds(now);
    return in;
  }

  void terminate(std::size_t n, ms_t now) {
    SimNode& nd = nodes_[n];
    if (nd.terminated >= 0 || nd.running > 0) return;  // never kill running work
    nd.terminated = now;
    if (nd.ready <= now) nd.idle_total += now - nd.idle_since;
    ++terminations_;
  }

  void autoscale(ms_t now) {
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
        if (nd.terminated < 0 && nd.ready <= now && now - nd.last_used > 5 * kMin) terminate(n, now);
      }
    }
    const raycluster::Plan p = raycluster::plan(planner_input(now));
    std::map<std::string, std::size_t> by_id;
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      if (nodes_[n].terminated < 0) by_id[nodes_[n].id] = n;
    }
    for (const auto& td : p.terminations) {
      auto it = by_id.find(td.node_id);
      if (it != by_id.end()) terminate(it->second, now);
    }
    for (const auto& [type, count] : p.launch_totals()) {
      int ti = -1;
      for (std::size_t k = 0; k < node_types().size(); ++k) {
        if (node_types()[k].name == type) ti = static_cast<int>(k);
      }
      if (ti < 0) continue;
      for (int i = 0; i < count; ++i) {
        SimNode nd;
        nd.id = "w" + std::to_string(nodes_.size());
        nd.type = ti;
        nd.launched = now;
        nd.ready = now + kBootMs + kSetupMs;
        nd.idle_since = nd.ready;
        readies_.push({nd.ready, nodes_.size()});
        nodes_.push_back(std::move(nd));
        ++launches_;
      }
    }
    peak_workers_ = std::max(peak_workers_, alive_workers());
  }

  Result report(ms_t end) const {
    Result r;
    r.workload = w_.name;
    r.policy = policy_name(policy_);
    r.tasks = tasks_.size();
    for (const SimNode& nd : nodes_) {
      const ms_t stop = nd.terminated >= 0 ? nd.terminated : end;
      const double h = static_cast<double>(stop - nd.launched) / static_cast<double>(kHour);
      r.node_hours += h;
      r.boot_hours += static_cast<double>(std::min(stop, nd.ready) - nd.launched) / static_cast<double>(kHour);
      r.idle_hours += static_cast<double>(nd.idle_total) / static_cast<double>(kHour);
      r.cost += h * node_types()[static_cast<std::size_t>(nd.type)].cost_per_hour;
    }
    r.lower_bound = lower_bound_node_hours(w_);
    r.lower_bound_cost = lower_bound_cost(w_);
    std::vector<ms_t> waits;
    waits.reserve(tasks_.size());
    for (const Task& t : tasks_) waits.push_back(t.start >= 0 ? t.start - t.arrival : end - t.arrival);
    r.p50_wait_s = percentile(waits, 0.50);
    r.p99_wait_s = percentile(waits, 0.99);
    r.max_wait_s = percentile(waits, 1.0);
    r.launches = launches_;
    r.terminations = terminations_;
    r.peak_workers = peak_workers_;
    r.sim_hours = static_cast<double>(end) / static_cast<double>(kHour);
    return r;
  }

 private:
  const Workload& w_;
  std::vector<Task> tasks_;
  PolicyKind policy_;
  std::vector<Shape> shapes_;
  std::vector<std::deque<std::size_t>> queues_;  // per shape, task indices
  std::size_t queued_ = 0;
  std::vector<std::int64_t> finished_;  // per shape: tasks finished so far
  std::vector<double> finished_ms_;     // and their total run time
  std::vector<SimNode> nodes_;
  std::vector<int> running_on_;
  using Ev = std::pair<ms_t, std::size_t>;
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> completions_;
  std::priority_queue<Ev, std::vector<Ev>, std::greater<Ev>> readies_;
  int launches_ = 0;
  int terminations_ = 0;
  int peak_workers_ = 0;
};


std::string fmt(double v, int prec = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench/results/trace_sim.json";
  auto number = [&](int& i) { return std::atof(argv[++i]); };
  for (int i = 1; i < argc; ++i) {
    const bool more = i + 1 < argc;
    if (more && std::strcmp(argv[i], "--out") == 0) {
      out = argv[++i];
    } else if (more && std::strcmp(argv[i], "--ours-speed") == 0) {
      opts().speed = number(i);
    } else if (more && std::strcmp(argv[i], "--ours-idle-min") == 0) {
      opts().idle_minutes = number(i);
    } else if (more && std::strcmp(argv[i], "--ours-payback") == 0) {
      opts().payback = number(i);
    } else if (more && std::strcmp(argv[i], "--ours-keep-idle") == 0) {
      opts().keep_idle = number(i);
    } else {
      std::fprintf(stderr,
                   "usage: trace-sim [--out FILE] [--ours-speed X] [--ours-idle-min X] [--ours-payback X] "
                   "[--ours-keep-idle X]\n");
      return 2;
    }
  }
  const std::vector<Workload> workloads = {steady(), bursty(), diurnal(), many_short(), long_gpu()};
  std::vector<Result> results;
  struct Bounds {
    double zero_wait = 0;   // no task waits
    double service = 0;     // no task waits longer than ray-v1's longest wait
    double service_w = 0;   // that wait, s
  };
  std::vector<Bounds> bounds;
  for (const Workload& w : workloads) {
    for (PolicyKind p : {PolicyKind::ours, PolicyKind::ray_v1}) {
      Sim sim(w, p);
      results.push_back(sim.run());
    }
    Bounds b;
    b.zero_wait = service_bound_hours(w, 0);
    b.service_w = results.back().max_wait_s;
    b.service = service_bound_hours(w, to_ms(b.service_w));
    bounds.push_back(b);
  }
  std::printf("%-11s %-7s %7s %8s %8s %6s %8s %6s %8s %6s %6s %6s %7s %7s %7s %7s %5s\n", "workload", "policy",
              "tasks", "node_h", "lb_work", "ratio", "lb_svc", "ratio", "lb_0", "ratio", "boot_h", "idle_h", "p50_s",
              "p99_s", "max_s", "launch", "peak");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const Bounds& b = bounds[i / 2];
    std::printf("%-11s %-7s %7zu %8.2f %8.2f %6.3f %8.2f %6.3f %8.2f %6.3f %6.2f %6.2f %7.1f %7.1f %7.1f %7d %5d\n",
                r.workload.c_str(), r.policy.c_str(), r.tasks, r.node_hours, r.lower_bound,
                r.node_hours / r.lower_bound, b.service, r.node_hours / b.service, b.zero_wait,
                r.node_hours / b.zero_wait, r.boot_hours, r.idle_hours, r.p50_wait_s, r.p99_wait_s, r.max_wait_s,
                r.launches, r.peak_workers);
  }
  std::printf("\nlb_work: any policy; lb_svc: any policy whose longest wait <= ray-v1's; lb_0: no waits\n");
  std::printf("goals (ours): node_h <= 1.15 x bound; node_h <= 0.75 x ray-v1 with p99 <= ray-v1's\n");
  std::string json = "{\n  \"ours\": {\"upscaling_speed\": " + fmt(opts().speed, 2) +
                     ", \"idle_timeout_minutes\": " + fmt(opts().idle_minutes, 2) +
                     ", \"launch_payback\": " + fmt(opts().payback, 2) +
                     ", \"keep_idle_startups\": " + fmt(opts().keep_idle, 2) + "},\n  \"boot_s\": " +
                     std::to_string(kBootMs / kSec) + ", \"setup_s\": " + std::to_string(kSetupMs / kSec) +
                     ", \"tick_s\": " + std::to_string(kTickMs / kSec) + ",\n  \"results\": [\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const Bounds& b = bounds[i / 2];
    json += "    {\"workload\": \"" + r.workload + "\", \"policy\": \"" + r.policy +
            "\", \"tasks\": " + std::to_string(r.tasks) + ", \"node_hours\": " + fmt(r.node_hours) +
            ", \"lower_bound_node_hours\": " + fmt(r.lower_bound) +
            ", \"ratio_to_bound\": " + fmt(r.node_hours / r.lower_bound) +
            ", \"service_bound_node_hours\": " + fmt(b.service) +
            ", \"service_bound_max_wait_s\": " + fmt(b.service_w, 1) +
            ", \"ratio_to_service_bound\": " + fmt(r.node_hours / b.service) +
            ", \"service_bound_applies\": " + (r.max_wait_s <= b.service_w ? "true" : "false") +
            ", \"zero_wait_bound_node_hours\": " + fmt(b.zero_wait) +
            ", \"boot_hours\": " + fmt(r.boot_hours) + ", \"idle_hours\": " + fmt(r.idle_hours) +
            ", \"cost\": " + fmt(r.cost) + ", \"lower_bound_cost\": " + fmt(r.lower_bound_cost) +
            ", \"p50_wait_s\": " + fmt(r.p50_wait_s, 1) + ", \"p99_wait_s\": " + fmt(r.p99_wait_s, 1) +
            ", \"max_wait_s\": " + fmt(r.max_wait_s, 1) + ", \"launches\": " + std::to_string(r.launches) +
            ", \"terminations\": " + std::to_string(r.terminations) +
            ", \"peak_workers\": " + std::to_string(r.peak_workers) +
            ", \"sim_hours\": " + fmt(r.sim_hours, 2) + "}" + (i + 1 < results.size() ? ",\n" : "\n");
  }
  // Goal check per workload (results come in (ours, ray-v1) pairs).
  json += "  ],\n  \"goals\": [\n";
  for (std::size_t i = 0; i + 1 < results.size(); i += 2) {
    const Result& o = results[i];
    const Result& r = results[i + 1];
    const Bounds& b = bounds[i / 2];
    const double ratio = o.node_hours / o.lower_bound;
    const double sratio = o.node_hours / b.service;
    const double saving = 1.0 - o.node_hours / r.node_hours;
    json += "    {\"workload\": \"" + o.workload + "\", \"ours_ratio_to_bound\": " + fmt(ratio) +
            ", \"within_15pct_of_bound\": " + (ratio <= 1.15 ? "true" : "false") +
            ", \"ours_ratio_to_service_bound\": " + fmt(sratio) +
            ", \"within_15pct_of_service_bound\": " + (sratio <= 1.15 && o.max_wait_s <= b.service_w ? "true" : "false") +
            ", \"node_hours_saving_vs_ray\": " + fmt(saving) +
            ", \"saving_at_least_25pct\": " + (saving >= 0.25 ? "true" : "false") +
            ", \"saving_possible_at_all\": " + (0.75 * r.node_hours >= o.lower_bound ? "true" : "false") +
            ", \"p99_not_worse\": " + (o.p99_wait_s <= r.p99_wait_s ? "true" : "false") + "}" +
            (i + 2 < results.size() ? ",\n" : "\n");
  }
  json += "  ]\n}\n";
  if (std::FILE* f = std::fopen(out.c_str(), "w")) {
    std::fputs(json.c_str(), f);
    std::fclose(f);
  } else {
    std::fprintf(stderr, "trace-sim: cannot write %s\n", out.c_str());
    return 1;
  }
  return 0;
}
