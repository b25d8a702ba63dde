// The reconcile loop: list -> load -> plan -> launch / set up / terminate.
#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "monitor/autoscaler_loop.hpp"
#include "cluster/worker_targets.hpp"
#include "monitor/drain.hpp"
#include "monitor/event_emitter.hpp"
#include "monitor/head_load.hpp"
#include "monitor/launch_history.hpp"
#include "monitor/planner_input.hpp"
#include "monitor/setups.hpp"
#include "monitor/task_durations.hpp"
#include "util/error.hpp"
#include "util/ids.hpp"

namespace raycluster {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

namespace {

double unix_seconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string describe_demands(const std::vector<ResourceDemand>& ds) {
  std::map<ResourceMap, std::int64_t> agg;
  for (const auto& d : ds) agg[d.shape] += d.count;
  std::string out;
  for (const auto& [shape, n] : agg)
    out += (out.empty() ? "" : ", ") + std::to_string(n) + "x" + shape.to_json();
  return out.empty() ? "none" : out;
}

}  // namespace

std::string AutoscalerEvent::to_json() const {
  Value v = Value::object();
  v.set("time", unix_seconds(time));
  v.set("event", type);
  if (!node_type.empty()) v.set("node_type", node_type);
  if (count) v.set("count", count);
  if (!reason.empty()) v.set("reason", reason);
  if (!node_ids.empty()) {
    Value ids = Value::array();
    for (const auto& id : node_ids) ids.push(id);
    v.set("node_ids", ids);
  }
  if (!detail.empty()) v.set("detail", redact(detail));
  if (report_time != Clock::time_point{}) v.set("report_time", unix_seconds(report_time));
  return v.to_json();
}

struct Autoscaler::Impl {
  Cluster& cluster;
  AutoscalerOptions options;
  std::string session = detail::random_hex(4);
  std::uint64_t ticks = 0;
  detail::EventEmitter events{options};

  std::mutex demand_mu;
  std::vector<ResourceDemand> pushed;

  detail::HeadLoadReader head_load{options, events};
  std::shared_ptr<NodeDrainer> drainer;
  std::string last_load_error;
  detail::PlannerInputBuilder inputs;
  detail::LaunchCooldowns cooldowns;
  detail::StartupEstimates startups;
  detail::SetupPool setups{cluster, options, events, startups};
  // Reads Ray's state API at most every 5 s (or every tick, if slower).
  detail::TaskDurationReader durations{events, std::max(options.interval, milliseconds(5000))};
  std::string launch_note;  // why launches for demand were sized as they were
  std::string last_demand, last_infeasible, last_skip;
  std::map<std::string, int> last_targets;
  bool bootstrapped = false;

  // The loop thread.
  std::thread loop_thread;
  CancelToken loop_cancel;

  Impl(Cluster& c, AutoscalerOptions o) : cluster(c), options(std::move(o)) {
    options.interval = std::clamp(options.interval, milliseconds(100), milliseconds(600000));
    options.max_api_calls_per_tick = std::max(2, options.max_api_calls_per_tick);
    options.max_concurrent_setups = std::max(1, options.max_concurrent_setups);
    if (!options.now) options.now = real_wall_clock();
    if (!options.sleep) options.sleep = real_sleeper();
    drainer = options.drainer;
    if (!drainer) drainer = std::make_shared<detail::GcsDrainer>(cluster, options.on_head, options.transport);
  }

  // ---- one tick ----
  PlannerInput planner_input(const std::vector<Node>& nodes, const ClusterLoad& load,
                             const std::vector<ResourceDemand>& requested, Clock::time_point now) {
    PlannerInput in = inputs.build(with_targets(), nodes, load, now, setups, startups);
    {
      std::lock_guard<std::mutex> lock(demand_mu);
      in.demands.insert(in.demands.end(), pushed.begin(), pushed.end());
    }
    in.resource_requests.insert(in.resource_requests.end(), requested.begin(), requested.end());
    in.cooldowns = cooldowns.active(now);
    if (in.policy.launch_payback > 0) in.task_durations = durations.estimates();
    return in;
  }

  // The spec with the worker counts `scale` asked for as floors.
  ClusterSpec with_targets() {
    std::map<std::string, int> targets;
    try {
      targets = detail::read_worker_targets(cluster.state_dir());
    } catch (const Error& e) {
      events.emit("load_error", std::string("worker targets: ") + e.what());
    }
    if (targets != last_targets && !targets.empty()) {
      std::string d;
      for (const auto& [t, n] : targets) d += (d.empty() ? "" : ", ") + t + " >= " + std::to_string(n);
      events.emit("target", "worker counts set by `scale`: " + d);
    }
    last_targets = targets;
    return detail::with_worker_targets(cluster.spec(), targets);
  }

  void note_demand(const PlannerInput& in, const ClusterLoad& load) {
    std::string sig = "tasks: " + describe_demands(in.demands);
    std::vector<ResourceDemand> pg_bundles;
    for (const auto& pg : in.placement_groups)
      for (const auto& b : pg.bundles) pg_bundles.push_back({b, 1});
    sig += "; placement groups: " + std::to_string(in.placement_groups.size()) + " (" +
           describe_demands(pg_bundles) + ")";
    sig += "; requested: " + describe_demands(in.resource_requests);
    if (sig == last_demand) return;
    last_demand = sig;
    AutoscalerEvent e;
    e.type = "demand";
    e.detail = sig;
    std::int64_t n = 0;
    for (const auto& d : in.demands) n += d.count;
    e.count = static_cast<int>(n + static_cast<std::int64_t>(pg_bundles.size()));
    e.report_time = load.ok ? load.report_time : Clock::time_point{};
    events.emit(std::move(e));
  }

  void note_infeasible(const Plan& p) {
    std::string inf = describe_demands(p.infeasible);
    if (!p.infeasible.empty() && inf != last_infeasible) {
      AutoscalerEvent e;
      e.type = "infeasible";
      e.detail = "no node type can hold: " + inf;
      events.emit(std::move(e));
    }
    last_infeasible = p.infeasible.empty() ? std::string() : inf;
  }

  static std::chrono::microseconds since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  }

  TickResult skip(TickResult res, std::chrono::steady_clock::time_point t0, const std::string& why) {
    if (why != last_skip) events.emit("skipped", why);
    last_skip = why;
    res.duration = since(t0);
    return res;
  }

  ClusterLoad read_load(const Node& head, const CancelToken& cancel, TickResult& res) {
    auto l0 = std::chrono::steady_clock::now();
    ClusterLoad load = head_load.read(cluster, head, cancel);
    res.load_duration = since(l0);
    if (!load.ok && load.error != last_load_error) events.emit("load_error", load.error);
    last_load_error = load.ok ? std::string() : load.error;
    return load;
  }

  std::vector<ResourceDemand> requested_resources() {
    try {
      return read_resource_request(cluster.state_dir());
    } catch (const Error& e) {
      events.emit("load_error", std::string("requested resources: ") + e.what());
    }
    return {};
  }

  bool budget_left(const TickResult& res) const {
    return res.api_calls < options.max_api_calls_per_tick;
  }

  using Victims = std::map<std::string, std::vector<Node>>;  // by termination reason

  // Terminations first, grouped by reason, never a node our updater works on.
  Victims terminate(const Plan& p, const std::vector<Node>& nodes, const ClusterLoad& load,
                    const Node& head, const CancelToken& cancel, TickResult& res) {
    Victims victims;
    std::map<std::string, Node> by_id;
    for (const auto& n : nodes) by_id[n.id] = n;
    for (const auto& t : p.terminations) {
      if (setups.is_updating(t.node_id) || !by_id.count(t.node_id)) continue;
      victims[termination_reason_name(t.reason)].push_back(by_id[t.node_id]);
    }
    const std::string idle = termination_reason_name(TerminationReason::idle);
    if (victims.count(idle)) {
      victims[idle] = drained(victims[idle], load, head, cancel);
      if (victims[idle].empty()) victims.erase(idle);
    }
    for (const auto& [reason, list] : victims) {
      cancel.throw_if_cancelled();
      if (!budget_left(res)) break;
      ++res.api_calls;
      AutoscalerEvent e;
      e.type = "terminate";
      e.reason = reason;
      e.count = static_cast<int>(list.size());
      e.node_type = list.front().node_type;
      for (const auto& n : list) e.node_ids.push_back(n.id);
      try {
        cluster.terminate_nodes(list, reason);
        res.terminated += e.count;
        for (const auto& n : list) inputs.forget(n.id);
      } catch (const Error& err) {
        e.detail = std::string("failed: ") + err.what();
      }
      events.emit(std::move(e));
    }
    return victims;
  }

  // A node is busy while any resource but memory and node markers is in use.
  static bool busy(const RayNodeLoad& r) {
    for (const auto& [name, total] : r.total) {
      if (name == "memory" || name == "object_store_memory" || name.rfind("node:", 0) == 0) continue;
      if (r.available.get(name) + 1e-9 < total) return true;
    }
    return false;
  }

  void note_drain(const Node& n, const std::string& detail) {
    AutoscalerEvent e;
    e.type = "drain";
    e.reason = termination_reason_name(TerminationReason::idle);
    e.node_type = n.node_type;
    e.node_ids = {n.id};
    e.detail = detail;
    events.emit(std::move(e));
  }

  // The idle victims Ray agrees to let go: a fresh report first (a node given
  // work since the tick's report stays), then DrainNode for each. A node Ray
  // does not know (no raylet registered) has nothing to drain.
  std::vector<Node> drained(const std::vector<Node>& idle, const ClusterLoad& tick_load,
                            const Node& head, const CancelToken& cancel) {
    ClusterLoad fresh = head_load.read(cluster, head, cancel);
    const ClusterLoad& load = fresh.ok ? fresh : tick_load;
    std::map<std::string, const RayNodeLoad*> by_ip;
    for (const auto& rn : load.nodes)
      if (!rn.ip.empty()) by_ip[rn.ip] = &rn;
    std::vector<Node> out;
    std::string unreachable;
    for (const auto& n : idle) {
      cancel.throw_if_cancelled();
      auto it = by_ip.find(n.internal_ip);
      if (it == by_ip.end() || it->second->ray_node_id.empty()) {
        note_drain(n, "not in Ray's report: nothing to drain");
        out.push_back(n);
        continue;
      }
      if (fresh.ok && busy(*it->second)) {
        note_drain(n, "busy in a fresh report: kept");
        continue;
      }
      if (!unreachable.empty()) {
        note_drain(n, "Ray's GCS unreachable: " + unreachable + "; not terminated");
        continue;
      }
      DrainResult d = drainer->drain_idle(it->second->ray_node_id, cancel);
      switch (d.outcome) {
        case DrainResult::Outcome::accepted:
          note_drain(n, "accepted");
          out.push_back(n);
          break;
        case DrainResult::Outcome::refused:
          note_drain(n, "refused: " + (d.message.empty() ? std::string("no reason given") : d.message));
          break;
        case DrainResult::Outcome::unreachable:
          unreachable = d.message.empty() ? std::string("no answer") : d.message;
          note_drain(n, "Ray's GCS unreachable: " + unreachable + "; not terminated");
          break;
      }
    }
    return out;
  }

  void launch(const Plan& p, const std::vector<Node>& nodes, const Node& head, Clock::time_point now,
              const CancelToken& cancel, TickResult& res) {
    std::vector<Node> current = nodes;
    for (const auto& d : p.launches) {
      cancel.throw_if_cancelled();
      if (!budget_left(res)) {
        events.emit("skipped", "API call budget of the tick used up: " + std::to_string(d.count) +
                                   " " + d.node_type + " launch(es) wait for the next tick");
        continue;
      }
      if (!bootstrapped) {
        cluster.bootstrap(cancel);
        bootstrapped = true;
      }
      ++res.api_calls;
      launch_one(d, current, head, now, res);
    }
  }

  // One launch decision; the nodes made join `current` and the setup queue.
  void launch_one(const LaunchDecision& d, std::vector<Node>& current, const Node& head,
                  Clock::time_point now, TickResult& res) {
    AutoscalerEvent e;
    e.node_type = d.node_type;
    e.reason = launch_reason_name(d.reason);
    e.count = d.count;
    if (d.reason == LaunchReason::demand) e.detail = launch_note;
    try {
      std::string salt = session + "/" + std::to_string(ticks) + "/" + e.reason;
      const auto asked = options.now();
      auto made = cluster.launch_workers(d.node_type, d.count, current, salt);
      e.type = "launch";
      for (const auto& n : made) {
        e.node_ids.push_back(n.id);
        current.push_back(n);
      }
      res.launched += static_cast<int>(made.size());
      cooldowns.succeed(d.node_type);
      events.emit(e);
      for (const auto& n : made) setups.enqueue(n, head, asked);
    } catch (const Error& err) {
      if (err.code() == ErrorCode::cancelled) throw;
      const milliseconds step =
          cooldowns.fail(d.node_type, now, options.launch_cooldown, options.max_launch_cooldown);
      e.type = "launch_failed";
      e.detail = std::string(error_code_name(err.code())) + ": " + err.what() +
                 " (type cools down for " + std::to_string(step.count() / 1000) + " s)";
      events.emit(std::move(e));
    }
  }

  // Workers left half set up (a crashed monitor, a partial launch): set up again.
  void resume_setups(const std::vector<Node>& nodes, const Victims& victims, const Node& head) {
    for (const auto& n : nodes) {
      if (n.kind != NodeKind::worker || !n.alive()) continue;
      auto s = n.setup_status();
      if (s == status::up_to_date || s == status::update_failed) continue;
      bool terminated = false;
      for (const auto& [reason, list] : victims)
        for (const auto& v : list) terminated = terminated || v.id == n.id;
      if (!terminated && !setups.is_updating(n.id)) setups.enqueue(n, head);
    }
    // file_mounts_sync_continuously: changed files go to the workers set up.
    std::vector<Node> stale;
    try {
      stale = cluster.nodes_with_stale_files(nodes);
    } catch (const Error& e) {
      events.emit("load_error", std::string("file mounts: ") + e.what());
    }
    for (const auto& n : stale)
      if (n.kind == NodeKind::worker && !victims_hold(victims, n) && !setups.is_updating(n.id))
        setups.enqueue(n, head);
  }

  static bool victims_hold(const Victims& victims, const Node& n) {
    for (const auto& [reason, list] : victims)
      for (const auto& v : list)
        if (v.id == n.id) return true;
    return false;
  }

  TickResult tick(const CancelToken& cancel) {
    auto t0 = std::chrono::steady_clock::now();
    TickResult res;
    cancel.throw_if_cancelled();
    ++ticks;
    auto lock = cluster.try_lock_operations();
    if (!lock) return skip(res, t0, "another operation (up, scale, down) holds the cluster");

    std::vector<Node> nodes;
    try {
      nodes = cluster.nodes();
      ++res.api_calls;
    } catch (const Error& e) {
      return skip(res, t0, std::string("listing nodes failed: ") + e.what());
    }
    std::optional<Node> head;
    for (const auto& n : nodes)
      if (n.kind == NodeKind::head && n.alive()) head = n;
    if (!head) return skip(res, t0, "the cluster has no head node (run `raycluster up` first)");
    last_skip.clear();

    ClusterLoad load = read_load(*head, cancel, res);
    std::vector<ResourceDemand> requested = requested_resources();
    const auto now = options.now();
    // Task durations only matter to the planner when launch_payback is on;
    // the read runs in the background and never holds the tick up.
    if (cluster.spec().launch_payback > 0 && load.ok)
      durations.poll(head_load.url(), head_load.transport(), now);
    // What the cloud says each type's machine has, so that a type that has
    // never run (its resources left out of the config) can take demand.
    try {
      cluster.fill_node_type_resources(cancel);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::cancelled) throw;
      events.emit("load_error", std::string("node type resources: ") + e.what());
    }
    PlannerInput in = planner_input(nodes, load, requested, now);
    note_demand(in, load);
    try {
      res.plan = plan(in);
    } catch (const Error& e) {
      events.emit("skipped", std::string("planning failed: ") + e.what());
      return res;
    }
    res.ran = true;
    launch_note = in.task_durations.empty()
                      ? std::string()
                      : "launch_payback " + format_number(in.policy.launch_payback) +
                            ", task durations: " + durations.description();
    const Plan& p = res.plan;
    note_infeasible(p);
    const Victims victims = terminate(p, nodes, load, *head, cancel, res);
    launch(p, nodes, *head, now, cancel, res);
    resume_setups(nodes, victims, *head);

    res.duration = since(t0);
    AutoscalerEvent e;
    e.type = "tick";
    e.detail = "nodes " + std::to_string(nodes.size()) + ", api calls " +
               std::to_string(res.api_calls) + ", " + std::to_string(res.duration.count()) +
               " us (load " + std::to_string(res.load_duration.count()) + " us)";
    events.emit(std::move(e));
    return res;
  }

  void run(const CancelToken& cancel) {
    while (!cancel.cancelled()) {
      auto start = std::chrono::steady_clock::now();
      try {
        tick(cancel);
      } catch (const Error& e) {
        if (e.code() == ErrorCode::cancelled) break;
        events.emit("skipped", std::string("tick failed: ") + e.what());
      } catch (const std::exception& e) {
        events.emit("skipped", std::string("tick failed: ") + e.what());
      }
      auto spent = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
      if (spent < options.interval && !options.sleep(options.interval - spent, cancel)) break;
    }
  }
};

Autoscaler::Autoscaler(Cluster& cluster, AutoscalerOptions options)
    : impl_(std::make_unique<Impl>(cluster, std::move(options))) {}

Autoscaler::~Autoscaler() { stop(); }

void Autoscaler::request_resources(const std::vector<ResourceDemand>& requests) {
  write_resource_request(impl_->cluster.state_dir(), requests);
}

void Autoscaler::report_demand(std::vector<ResourceDemand> demand) {
  std::lock_guard<std::mutex> lock(impl_->demand_mu);
  impl_->pushed = std::move(demand);
}

TickResult Autoscaler::tick(const CancelToken& cancel) { return impl_->tick(cancel); }

void Autoscaler::run(const CancelToken& cancel) {
  impl_->run(cancel);
  impl_->setups.stop();
}

void Autoscaler::drain() { impl_->setups.drain(); }

void Autoscaler::start() {
  if (impl_->loop_thread.joinable()) return;
  impl_->loop_cancel = CancelToken();
  impl_->loop_thread = std::thread([this] { impl_->run(impl_->loop_cancel); });
}

void Autoscaler::stop() {
  impl_->loop_cancel.cancel();
  if (impl_->loop_thread.joinable()) impl_->loop_thread.join();
  impl_->setups.stop();
}

}  // namespace raycluster
