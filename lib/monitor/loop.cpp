// The reconcile loop: list -> load -> plan -> launch / set up / terminate.
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "cluster/hashes.hpp"
#include "monitor/autoscaler_loop.hpp"
#include "monitor/event_emitter.hpp"
#include "monitor/head_load.hpp"
#include "monitor/load.hpp"
#include "util/error.hpp"
#include "util/ids.hpp"

namespace raycluster {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

namespace {

double unix_seconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string describe_demands(const std::vector<ResourceDemand>& ds) {
  std::map<ResourceMap, std::int64_t> agg;
  for (const auto& d : ds) agg[d.shape] += d.count;
  std::string out;
  for (const auto& [shape, n] : agg)
    out += (out.empty() ? "" : ", ") + std::to_string(n) + "x" + shape.to_json();
  return out.empty() ? "none" : out;
}

// Resource names that say nothing about whether work runs on a node.
bool activity_resource(const std::string& name) {
  return name != "memory" && name != "object_store_memory" && name.rfind("node:", 0) != 0;
}

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

// The startups (launch call -> node ready) last seen for one node type; the
// estimate is their median, so one slow boot or one lucky cache hit does not
// move it much.
class StartupSamples {
 public:
  static constexpr std::size_t kKeep = 9;
  void add(milliseconds d) {
    recent_.push_back(d);
    if (recent_.size() > kKeep) recent_.pop_front();
  }
  std::size_t size() const noexcept { return recent_.size(); }
  milliseconds median() const {
    std::vector<milliseconds> v(recent_.begin(), recent_.end());
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

 private:
  std::deque<milliseconds> recent_;
};

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
  std::string last_load_error;

  std::map<std::string, Clock::time_point> last_busy;  // our node id -> when last busy
  struct Cooldown {
    Clock::time_point until{};
    milliseconds step{0};
  };
  std::map<std::string, Cooldown> cooldowns;
  // Startups observed per node type, for the nodes this loop launched
  // (written by the setup threads, read by the tick).
  std::mutex startup_mu;
  std::map<std::string, StartupSamples> startups;
  std::string last_demand, last_infeasible, last_skip;
  bool bootstrapped = false;

  // Background setups.
  std::mutex setup_mu;
  std::condition_variable setup_cv;
  std::condition_variable drained_cv;
  struct SetupJob {
    Node node;
    Node head;
    std::optional<Clock::time_point> launched;  // when this loop asked for it
  };
  std::deque<SetupJob> setup_queue;
  std::set<std::string> updating;  // queued or running
  std::vector<std::thread> setup_threads;
  int setup_idle = 0;
  bool setup_stop = false;
  CancelToken setup_cancel;

  // The loop thread.
  std::thread loop_thread;
  CancelToken loop_cancel;

  Impl(Cluster& c, AutoscalerOptions o) : cluster(c), options(std::move(o)) {
    options.interval = std::clamp(options.interval, milliseconds(100), milliseconds(600000));
    options.max_api_calls_per_tick = std::max(2, options.max_api_calls_per_tick);
    options.max_concurrent_setups = std::max(1, options.max_concurrent_setups);
    if (!options.now) options.now = real_wall_clock();
    if (!options.sleep) options.sleep = real_sleeper();
  }

  // ---- background setups ----
  void enqueue_setup(const Node& node, const Node& head,
                     std::optional<Clock::time_point> launched = std::nullopt) {
    // disable_node_updaters: workers set themselves up.
    if (node.kind == NodeKind::worker && cluster.spec().provider.disable_node_updaters) return;
    std::lock_guard<std::mutex> lock(setup_mu);
    if (setup_stop || updating.count(node.id)) return;
    updating.insert(node.id);
    setup_queue.push_back({node, head, launched});
    // More work queued than idle workers to take it: add one, up to the bound.
    if (static_cast<int>(setup_queue.size()) > setup_idle &&
        static_cast<int>(setup_threads.size()) < options.max_concurrent_setups)
      setup_threads.emplace_back([this] { setup_worker(); });
    setup_cv.notify_one();
  }
  bool is_updating(const std::string& id) {
    std::lock_guard<std::mutex> lock(setup_mu);
    return updating.count(id) > 0;
  }
  void setup_worker() {
    std::unique_lock<std::mutex> lock(setup_mu);
    for (;;) {
      ++setup_idle;
      setup_cv.wait(lock, [this] { return setup_stop || !setup_queue.empty(); });
      --setup_idle;
      if (setup_stop) return;
      SetupJob job = std::move(setup_queue.front());
      setup_queue.pop_front();
      lock.unlock();
      const Node& node = job.node;
      AutoscalerEvent e;
      e.node_type = node.node_type;
      e.node_ids = {node.id};
      e.count = 1;
      bool report = true;
      try {
        cluster.setup_node(node, job.head, setup_cancel);
        e.type = "node_ready";
        if (job.launched) e.detail = note_startup(node.node_type, options.now() - *job.launched);
      } catch (const Error& err) {
        report = err.code() != ErrorCode::cancelled;
        e.type = "setup_failed";
        e.detail = err.what();
      } catch (const std::exception& err) {
        e.type = "setup_failed";
        e.detail = err.what();
      }
      if (report) events.emit(std::move(e));
      lock.lock();
      updating.erase(node.id);
      if (updating.empty()) drained_cv.notify_all();
    }
  }
  void drain() {
    std::unique_lock<std::mutex> lock(setup_mu);
    drained_cv.wait(lock, [this] { return updating.empty() || setup_stop; });
  }
  void stop_setups() {
    setup_cancel.cancel();
    {
      std::lock_guard<std::mutex> lock(setup_mu);
      setup_stop = true;
    }
    setup_cv.notify_all();
    drained_cv.notify_all();
    for (auto& t : setup_threads) t.join();
    setup_threads.clear();
    // Ready for another start(): what was queued is picked up again by the
    // next tick (its nodes are still not up to date).
    std::lock_guard<std::mutex> lock(setup_mu);
    setup_queue.clear();
    updating.clear();
    setup_idle = 0;
    setup_stop = false;
    setup_cancel = CancelToken();
  }

  // ---- startup estimates ----
  // Records one launch-to-ready time; returns the event detail.
  std::string note_startup(const std::string& type, Clock::duration took) {
    auto d = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(took));
    std::lock_guard<std::mutex> lock(startup_mu);
    auto& samples = startups[type];
    samples.add(d);
    return "ready " + seconds_text(d) + " after launch; " + type + " startup estimate " +
           seconds_text(samples.median()) + " (median of " + std::to_string(samples.size()) + ")";
  }
  // The config's startup_seconds wins; else what this loop has seen.
  std::optional<milliseconds> startup_of(const NodeTypeSpec& t) {
    // lib/spec admits finite values >= 0; a spec built in code may hold
    // anything: a negative or NaN is unknown, a huge one is capped (~30 years).
    if (t.startup_seconds && *t.startup_seconds >= 0)
      return milliseconds(std::llround(std::min(*t.startup_seconds, 1e9) * 1000.0));
    std::lock_guard<std::mutex> lock(startup_mu);
    auto it = startups.find(t.name);
    if (it == startups.end() || it->second.size() == 0) return std::nullopt;
    return it->second.median();
  }

  // ---- one tick ----
  PlannerInput planner_input(const std::vector<Node>& nodes, const ClusterLoad& load,
                             const std::vector<ResourceMap>& requested, Clock::time_point now) {
    const auto& spec = cluster.spec();
    PlannerInput in;
    in.head_node_type = spec.head_node_type;
    in.policy.max_workers = spec.max_workers;
    in.policy.upscaling_speed = spec.upscaling_speed;
    in.policy.idle_timeout_minutes = spec.idle_timeout_minutes;
    // Off unless the config asks: it would shorten idle_timeout_minutes.
    in.policy.keep_idle_startups = spec.idle_release_after_startups;
    // launch_payback keeps the planner's default, but it only acts on task
    // shapes with a duration estimate, and Ray's report carries none: the
    // loop leaves in.task_durations empty, so launches are Ray's.
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
      // A node our updater works on is pending whatever its tag says now.
      if (is_updating(n.id) && p.status == status::up_to_date) p.status = status::setting_up;
      const RayNodeLoad* rn = nullptr;
      if (auto it = by_ip.find(n.internal_ip); it != by_ip.end()) rn = it->second;
      if (rn) {
        p.total = rn->total;
        p.available = rn->available;
        observed.emplace(n.node_type, rn->total);
        bool busy = false;
        for (const auto& [name, total] : rn->total)
          if (activity_resource(name) && rn->available.get(name) + 1e-9 < total) busy = true;
        if (rn->idle_for) {
          p.idle_for = *rn->idle_for;
          last_busy[n.id] = now - *rn->idle_for;
        } else {
          if (busy || !last_busy.count(n.id)) last_busy[n.id] = now;
          p.idle_for = std::chrono::duration_cast<milliseconds>(now - last_busy[n.id]);
        }
      } else {
        // Not in Ray's report (not connected yet, or no report): never idle.
        if (load.ok) last_busy.erase(n.id);
        p.idle_for = milliseconds(0);
      }
      in.nodes.push_back(std::move(p));
    }
    for (auto it = last_busy.begin(); it != last_busy.end();)
      it = seen.count(it->first) ? std::next(it) : last_busy.erase(it);

    for (const auto& t : spec.node_types) {
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
      pt.startup = startup_of(t);
      in.node_types.push_back(std::move(pt));
    }
    if (load.ok) {
      in.demands = load.demands;
      in.placement_groups = load.placement_groups;
      in.resource_requests = load.resource_requests;
    }
    {
      std::lock_guard<std::mutex> lock(demand_mu);
      in.demands.insert(in.demands.end(), pushed.begin(), pushed.end());
    }
    for (const auto& b : requested) in.resource_requests.push_back({b, 1});
    for (const auto& [type, c] : cooldowns)
      if (c.until > now) in.cooldowns[type] = c.until;
    return in;
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

  TickResult tick(const CancelToken& cancel) {
    auto t0 = std::chrono::steady_clock::now();
    TickResult res;
    cancel.throw_if_cancelled();
    ++ticks;
    auto skip = [&](const std::string& why) {
      if (why != last_skip) events.emit("skipped", why);
      last_skip = why;
      res.duration = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0);
      return res;
    };
    auto lock = cluster.try_lock_operations();
    if (!lock) return skip("another operation (up, scale, down) holds the cluster");

    std::vector<Node> nodes;
    try {
      nodes = cluster.nodes();
      ++res.api_calls;
    } catch (const Error& e) {
      return skip(std::string("listing nodes failed: ") + e.what());
    }
    std::optional<Node> head;
    for (const auto& n : nodes)
      if (n.kind == NodeKind::head && n.alive()) head = n;
    if (!head) return skip("the cluster has no head node (run `raycluster up` first)");
    last_skip.clear();

    auto l0 = std::chrono::steady_clock::now();
    ClusterLoad load = head_load.read(cluster, *head, cancel);
    res.load_duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - l0);
    if (!load.ok && load.error != last_load_error) events.emit("load_error", load.error);
    last_load_error = load.ok ? std::string() : load.error;

    std::vector<ResourceMap> requested;
    try {
      requested = read_resource_request(cluster.state_dir());
    } catch (const Error& e) {
      events.emit("load_error", std::string("requested resources: ") + e.what());
    }

    const auto now = options.now();
    PlannerInput in = planner_input(nodes, load, requested, now);
    note_demand(in, load);
    try {
      res.plan = plan(in);
    } catch (const Error& e) {
      events.emit("skipped", std::string("planning failed: ") + e.what());
      return res;
    }
    res.ran = true;
    const Plan& p = res.plan;
    {
      std::string inf = describe_demands(p.infeasible);
      if (!p.infeasible.empty() && inf != last_infeasible) {
        AutoscalerEvent e;
        e.type = "infeasible";
        e.detail = "no node type can hold: " + inf;
        events.emit(std::move(e));
      }
      last_infeasible = p.infeasible.empty() ? std::string() : inf;
    }
    auto budget_left = [&] { return res.api_calls < options.max_api_calls_per_tick; };

    // Terminations first, grouped by reason, never a node our updater works on.
    std::map<std::string, std::vector<Node>> victims;
    std::map<std::string, Node> by_id;
    for (const auto& n : nodes) by_id[n.id] = n;
    for (const auto& t : p.terminations) {
      if (is_updating(t.node_id) || !by_id.count(t.node_id)) continue;
      victims[termination_reason_name(t.reason)].push_back(by_id[t.node_id]);
    }
    for (const auto& [reason, list] : victims) {
      cancel.throw_if_cancelled();
      if (!budget_left()) break;
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
        for (const auto& n : list) last_busy.erase(n.id);
      } catch (const Error& err) {
        e.detail = std::string("failed: ") + err.what();
      }
      events.emit(std::move(e));
    }

    // Launches.
    std::vector<Node> current = nodes;
    for (const auto& d : p.launches) {
      cancel.throw_if_cancelled();
      if (!budget_left()) {
        events.emit("skipped", "API call budget of the tick used up: " + std::to_string(d.count) +
                                   " " + d.node_type + " launch(es) wait for the next tick");
        continue;
      }
      if (!bootstrapped) {
        cluster.provider().bootstrap({}, cancel);
        bootstrapped = true;
      }
      ++res.api_calls;
      AutoscalerEvent e;
      e.node_type = d.node_type;
      e.reason = launch_reason_name(d.reason);
      e.count = d.count;
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
        cooldowns.erase(d.node_type);
        events.emit(e);
        for (const auto& n : made) enqueue_setup(n, *head, asked);
      } catch (const Error& err) {
        if (err.code() == ErrorCode::cancelled) throw;
        auto& c = cooldowns[d.node_type];
        c.step = c.step.count() == 0 ? options.launch_cooldown
                                     : std::min(c.step * 2, options.max_launch_cooldown);
        c.until = now + c.step;
        e.type = "launch_failed";
        e.detail = std::string(error_code_name(err.code())) + ": " + err.what() +
                   " (type cools down for " + std::to_string(c.step.count() / 1000) + " s)";
        events.emit(std::move(e));
      }
    }

    // Workers left half set up (a crashed monitor, a partial launch): set up again.
    for (const auto& n : nodes) {
      if (n.kind != NodeKind::worker || !n.alive()) continue;
      auto s = n.setup_status();
      if (s == status::up_to_date || s == status::update_failed) continue;
      bool terminated = false;
      for (const auto& [reason, list] : victims)
        for (const auto& v : list) terminated = terminated || v.id == n.id;
      if (!terminated && !is_updating(n.id)) enqueue_setup(n, *head);
    }

    res.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
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

void Autoscaler::request_resources(const std::vector<ResourceMap>& bundles) {
  write_resource_request(impl_->cluster.state_dir(), bundles);
}

void Autoscaler::report_demand(std::vector<ResourceDemand> demand) {
  std::lock_guard<std::mutex> lock(impl_->demand_mu);
  impl_->pushed = std::move(demand);
}

TickResult Autoscaler::tick(const CancelToken& cancel) { return impl_->tick(cancel); }

void Autoscaler::run(const CancelToken& cancel) {
  impl_->run(cancel);
  impl_->stop_setups();
}

void Autoscaler::drain() { impl_->drain(); }

void Autoscaler::start() {
  if (impl_->loop_thread.joinable()) return;
  impl_->loop_cancel = CancelToken();
  impl_->loop_thread = std::thread([this] { impl_->run(impl_->loop_cancel); });
}

void Autoscaler::stop() {
  impl_->loop_cancel.cancel();
  if (impl_->loop_thread.joinable()) impl_->loop_thread.join();
  impl_->stop_setups();
}

}  // namespace raycluster
