// The reconcile loop against an in-memory provider, a scripted load source
// and an injected clock: no Ray, no sleeping.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "monitor/autoscaler_loop.hpp"
#include "util/error.hpp"
#include "support/fake_cloud.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using namespace std::chrono_literals;

namespace {

using World = testing::FakeCloud;
using testing::FakeProvider;

// Serves whatever the test puts in `load`.
struct ScriptedLoad : LoadSource {
  std::mutex mu;
  ClusterLoad load;
  std::vector<ClusterLoad> queued;  // answered first, in order, before `load`
  int reads = 0;
  ClusterLoad read(const CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu);
    ++reads;
    if (!queued.empty()) {
      ClusterLoad l = queued.front();
      queued.erase(queued.begin());
      return l;
    }
    return load;
  }
};

// Answers DrainNode as the test says, per Ray node id (default: accepted).
struct ScriptedDrainer : NodeDrainer {
  std::mutex mu;
  std::map<std::string, DrainResult::Outcome> outcome;
  std::vector<std::string> asked;
  DrainResult drain_idle(const std::string& ray_node_id, const CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu);
    asked.push_back(ray_node_id);
    DrainResult r;
    auto it = outcome.find(ray_node_id);
    r.outcome = it == outcome.end() ? DrainResult::Outcome::accepted : it->second;
    if (r.outcome == DrainResult::Outcome::refused) r.message = "The node is not idle";
    if (r.outcome == DrainResult::Outcome::unreachable) r.message = "connection refused";
    return r;
  }
};

const char* kConfig = R"(cluster_name: loop
provider:
  type: localhost
max_workers: 5
idle_timeout_minutes: 1
head_node_type: head
available_node_types:
  head:
    resources: {CPU: 1}
    max_workers: 0
  worker:
    resources: {CPU: 2, demo_slot: 1}
    min_workers: 0
    max_workers: 4
    initial_workers: 0
    idle_timeout_minutes: 0.25
setup_commands: [setup]
head_start_ray_commands: [head-start]
worker_start_ray_commands: [worker-start]
)";

struct Fixture {
  World world;
  std::string root;
  std::unique_ptr<Cluster> cluster;
  std::shared_ptr<ScriptedLoad> load = std::make_shared<ScriptedLoad>();
  std::shared_ptr<ScriptedDrainer> drainer = std::make_shared<ScriptedDrainer>();
  std::vector<AutoscalerEvent> events;
  std::mutex ev_mu;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1700000000);
  std::unique_ptr<Autoscaler> as;
  // Added to `now` on every reading of the loop's clock (set before a tick).
  std::function<std::chrono::milliseconds()> clock_extra;

  explicit Fixture(int api_budget = 16, const std::string& config = kConfig,
                   std::function<std::unique_ptr<Provider>(World&)> provider = {}) {
    char tmpl[] = "/tmp/rc-loop-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    ClusterOptions o;
    o.state_root = root;
    o.retry_backoff = 1ms;
    o.setup_attempts = 1;
    cluster = Cluster::open(load_spec_string(config, "loop.yaml"), o,
                            provider ? provider(world) : std::make_unique<FakeProvider>(world));
    cluster->up();
    load->load.ok = true;
    AutoscalerOptions ao;
    ao.load_source = load;
    ao.drainer = drainer;
    ao.max_api_calls_per_tick = api_budget;
    ao.now = [this] { return clock_extra ? now + clock_extra() : now; };
    ao.on_event = [this](const AutoscalerEvent& e) {
      std::lock_guard<std::mutex> lock(ev_mu);
      events.push_back(e);
    };
    as = std::make_unique<Autoscaler>(*cluster, ao);
  }
  ~Fixture() {
    as.reset();
    detail::remove_tree(root);
  }
  TickResult tick() {
    auto r = as->tick();
    as->drain();
    return r;
  }
  std::vector<Node> workers() {
    std::vector<Node> out;
    for (const auto& n : cluster->nodes())
      if (n.kind == NodeKind::worker) out.push_back(n);
    return out;
  }
  std::vector<AutoscalerEvent> of(const std::string& type) {
    std::lock_guard<std::mutex> lock(ev_mu);
    std::vector<AutoscalerEvent> out;
    for (const auto& e : events)
      if (e.type == type) out.push_back(e);
    return out;
  }
  // Ray reports every worker as connected; busy ones use their CPUs.
  void report_nodes(const std::set<std::string>& busy) {
    std::lock_guard<std::mutex> lock(load->mu);
    load->load.nodes.clear();
    for (const auto& n : cluster->nodes()) {
      RayNodeLoad r;
      r.ray_node_id = "ray-" + n.id;
      r.ip = n.internal_ip;
      double cpu = n.kind == NodeKind::head ? 1 : 2;
      r.total = ResourceMap{{"CPU", cpu}, {"memory", 1e9}, {"node:" + n.internal_ip, 1}};
      if (n.kind == NodeKind::worker) r.total.set("demo_slot", 1);
      r.available = r.total;
      if (busy.count(n.id)) {
        r.available.set("CPU", 0);
        r.available.set("demo_slot", 0);
      }
      load->load.nodes.push_back(r);
    }
  }
  void demand(std::vector<ResourceDemand> d) {
    std::lock_guard<std::mutex> lock(load->mu);
    load->load.demands = std::move(d);
  }
};

}  // namespace

TEST_CASE("loop: pending demand launches workers with Ray's tags, sets them up, then idles them out") {
  Fixture f;
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 3}});
  auto r = f.tick();
  CHECK(r.ran);
  CHECK(r.launched == 3);
  CHECK(r.api_calls == 2);  // one list, one create
  auto ws = f.workers();
  REQUIRE(ws.size() == 3);
  for (const auto& w : ws) {
    CHECK(w.tags.at("ray-node-type") == "worker");
    CHECK(w.tags.at("ray-user-node-type") == "worker");
    CHECK(w.tags.at("ray-node-status") == "up-to-date");
    CHECK(w.tags.count("ray-launch-config"));
  }
  REQUIRE(f.of("demand").size() == 1);
  CHECK(f.of("demand")[0].detail.find(R"(3x{"CPU":2,"demo_slot":1})") != std::string::npos);
  auto launches = f.of("launch");
  REQUIRE(launches.size() == 1);
  CHECK(launches[0].reason == "demand");
  CHECK(launches[0].count == 3);
  CHECK(f.of("node_ready").size() == 3);

  // Work runs on them: the demand is gone, nothing more is launched.
  std::set<std::string> busy;
  for (const auto& w : ws) busy.insert(w.id);
  f.demand({});
  f.report_nodes(busy);
  r = f.tick();
  CHECK(r.launched == 0);
  CHECK(r.terminated == 0);
  CHECK(r.api_calls == 1);

  // Done: idle, but not yet for the type's 15 s.
  f.report_nodes({});
  f.now += 10s;
  CHECK(f.tick().terminated == 0);
  f.now += 10s;
  r = f.tick();
  CHECK(r.terminated == 3);
  auto terms = f.of("terminate");
  REQUIRE(terms.size() == 1);
  CHECK(terms[0].reason == "idle");
  CHECK(f.workers().empty());
}

// A cloud that says what its machines have, as EC2's DescribeInstanceTypes.
struct DescribingProvider : FakeProvider {
  using FakeProvider::FakeProvider;
  int asked = 0;
  std::map<std::string, double> node_type_resources(const NodeTypeSpec& type, bool head,
                                                    const CancelToken&) override {
    ++asked;
    if (type.name != "gpu") return {{"CPU", 1}};
    std::map<std::string, double> r{{"CPU", 8}, {"GPU", 1}, {"accelerator_type:T4", 1}};
    if (!head) r["memory"] = 1e10;
    return r;
  }
};

const char* kUndescribedConfig = R"(cluster_name: loop
provider: {type: aws, region: us-east-1}
max_workers: 5
head_node_type: head
available_node_types:
  head:
    node_config: {InstanceType: m5.large}
  gpu:
    node_config: {InstanceType: g4dn.2xlarge}
    resources: {CPU: 6}
    max_workers: 2
setup_commands: [setup]
head_start_ray_commands: [head-start]
worker_start_ray_commands: [worker-start]
)";

TEST_CASE("loop: a type that never ran, its resources from the cloud, is launched for demand") {
  DescribingProvider* seen = nullptr;
  Fixture f(16, kUndescribedConfig, [&](World& w) {
    auto p = std::make_unique<DescribingProvider>(w);
    seen = p.get();
    return p;
  });
  const NodeTypeSpec* gpu = f.cluster->spec().find_node_type("gpu");
  REQUIRE(gpu);
  CHECK(gpu->resources.at("GPU") == 1);
  CHECK(gpu->resources.at("CPU") == 6);  // the config's own value wins
  CHECK(gpu->resources.at("memory") == 1e10);
  CHECK_FALSE(f.cluster->spec().head_type().resources.count("memory"));
  f.report_nodes({});
  f.demand({{ResourceMap{{"GPU", 1}, {"accelerator_type:T4", 0.001}}, 2}});
  auto r = f.tick();
  CHECK(r.launched == 2);
  for (const auto& w : f.workers()) CHECK(w.tags.at("ray-user-node-type") == "gpu");
  CHECK(f.of("infeasible").empty());
  // Asked once per type, not once per tick.
  int asked = seen->asked;
  f.tick();
  CHECK(seen->asked == asked);
}

TEST_CASE("loop: without the cloud's answer the same demand fits no type") {
  Fixture f(16, kUndescribedConfig);
  f.report_nodes({});
  f.demand({{ResourceMap{{"GPU", 1}}, 1}});
  auto r = f.tick();
  CHECK(r.launched == 0);
  CHECK(f.of("infeasible").size() == 1);
}

TEST_CASE("loop: request_resources launches against total capacity; an empty request lets them go") {
  Fixture f;
  f.report_nodes({});
  f.as->request_resources({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 2}});
  auto r = f.tick();
  CHECK(r.launched == 2);
  CHECK(f.of("launch").at(0).reason == "request_resources");
  // Busy or not, the floor is met: nothing more.
  f.report_nodes({});
  f.now += 60s;
  r = f.tick();
  CHECK(r.launched == 0);
  CHECK(r.terminated == 0);  // kept for the request although idle
  f.as->request_resources({});
  f.now += 1s;
  f.tick();  // idle clocks for the newly reported nodes start at first sight
  f.now += 20s;
  r = f.tick();
  CHECK(r.terminated == 2);
}

TEST_CASE("loop: a failed setup is replaced, not left forever") {
  Fixture f;
  f.world.failing.insert("setup");
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 1}});
  f.tick();
  REQUIRE(f.of("setup_failed").size() == 1);
  auto failed = f.workers();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].setup_status() == "update-failed");
  f.world.failing.clear();
  auto r = f.tick();
  CHECK(r.terminated == 1);
  CHECK(r.launched == 1);
  auto terms = f.of("terminate");
  REQUIRE(terms.size() == 1);
  CHECK(terms[0].reason == "failed_setup");
  auto now = f.workers();
  REQUIRE(now.size() == 1);
  CHECK(now[0].id != failed[0].id);
  CHECK(now[0].setup_status() == "up-to-date");
}

TEST_CASE("loop: a launch failure cools the type down, then it is tried again") {
  Fixture f;
  f.world.refuse_create = true;
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}}, 1}});
  const int before = f.world.creates;  // the head's
  f.tick();
  REQUIRE(f.of("launch_failed").size() == 1);
  CHECK(f.of("launch_failed")[0].detail.find("capacity") != std::string::npos);
  CHECK(f.world.creates == before + 1);
  f.now += 10s;
  f.tick();
  CHECK(f.world.creates == before + 1);  // still cooling down (30 s)
  f.world.refuse_create = false;
  f.now += 25s;
  CHECK(f.tick().launched == 1);
}

TEST_CASE("loop: each tick lists once and keeps to its API call budget") {
  Fixture f(2);  // list + one more call
  f.report_nodes({});
  f.as->request_resources({{ResourceMap{{"CPU", 2}}, 1}});
  f.demand({{ResourceMap{{"CPU", 1}, {"demo_slot", 1}}, 1}});
  int lists = f.world.lists;
  auto r = f.tick();
  CHECK(f.world.lists == lists + 1);
  CHECK(r.api_calls == 2);
}

TEST_CASE("loop: launches use fresh idempotency tokens each time") {
  Fixture f;
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}}, 1}});
  f.tick();
  f.demand({});
  f.report_nodes({});
  f.now += 1s;
  f.tick();
  f.now += 30s;
  REQUIRE(f.tick().terminated == 1);
  f.demand({{ResourceMap{{"CPU", 2}}, 1}});
  f.tick();  // the same cluster shape as the first launch
  REQUIRE(f.world.tokens.size() >= 3);
  CHECK(f.world.tokens[1] != f.world.tokens.back());
}

TEST_CASE("loop: without the head's report nothing is idled, and the error is an event") {
  Fixture f;
  f.demand({{ResourceMap{{"CPU", 2}}, 1}});
  f.report_nodes({});
  f.tick();
  REQUIRE(f.workers().size() == 1);
  {
    std::lock_guard<std::mutex> lock(f.load->mu);
    f.load->load = ClusterLoad{};
    f.load->load.error = "connection refused";
  }
  f.now += 600s;
  auto r = f.tick();
  CHECK(r.terminated == 0);
  REQUIRE(f.of("load_error").size() == 1);
  f.tick();
  CHECK(f.of("load_error").size() == 1);  // reported once, not every tick
}

// Three workers launched for demand, then idle past the type's 15 s.
static std::vector<Node> idle_three(Fixture& f) {
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 3}});
  f.tick();
  f.demand({});
  f.report_nodes({});
  f.tick();
  f.now += 20s;
  auto ws = f.workers();
  REQUIRE(ws.size() == 3);
  return ws;
}

static std::string drain_detail(Fixture& f, const std::string& node_id) {
  std::string d;
  for (const auto& e : f.of("drain"))
    if (e.node_ids == std::vector<std::string>{node_id}) d = e.detail;
  return d;
}

TEST_CASE("loop: an idle worker whose raylet refuses the drain keeps running") {
  Fixture f;
  auto ws = idle_three(f);
  f.drainer->outcome["ray-" + ws[1].id] = DrainResult::Outcome::refused;
  auto r = f.tick();
  CHECK(r.terminated == 2);
  CHECK(f.drainer->asked.size() == 3);
  auto left = f.workers();
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == ws[1].id);
  CHECK(drain_detail(f, ws[0].id) == "accepted");
  CHECK(drain_detail(f, ws[1].id) == "refused: The node is not idle");
  auto terms = f.of("terminate");
  REQUIRE(terms.size() == 1);
  CHECK(std::find(terms[0].node_ids.begin(), terms[0].node_ids.end(), ws[1].id) == terms[0].node_ids.end());
}

TEST_CASE("loop: an idle worker given work after the tick's report is not drained") {
  Fixture f;
  auto ws = idle_three(f);
  ClusterLoad idle_report, busy_report;
  {
    std::lock_guard<std::mutex> lock(f.load->mu);
    idle_report = f.load->load;
  }
  f.report_nodes({ws[2].id});
  {
    std::lock_guard<std::mutex> lock(f.load->mu);
    busy_report = f.load->load;
    f.load->load = idle_report;
    f.load->queued = {idle_report, busy_report};  // the plan's report, then the fresh one
  }
  auto r = f.tick();
  CHECK(r.terminated == 2);
  CHECK(drain_detail(f, ws[2].id) == "busy in a fresh report: kept");
  CHECK(std::find(f.drainer->asked.begin(), f.drainer->asked.end(), "ray-" + ws[2].id) ==
        f.drainer->asked.end());
  auto left = f.workers();
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == ws[2].id);
}

TEST_CASE("loop: while Ray's GCS is unreachable idle workers stay, and the event says why") {
  Fixture f;
  auto ws = idle_three(f);
  for (const auto& w : ws) f.drainer->outcome["ray-" + w.id] = DrainResult::Outcome::unreachable;
  auto r = f.tick();
  CHECK(r.terminated == 0);
  CHECK(f.workers().size() == 3);
  CHECK(f.drainer->asked.size() == 1);  // one failed call is enough for the tick
  for (const auto& w : ws)
    CHECK(drain_detail(f, w.id) == "Ray's GCS unreachable: connection refused; not terminated");
  // Reachable again: they go.
  f.drainer->outcome.clear();
  r = f.tick();
  CHECK(r.terminated == 3);
  CHECK(f.workers().empty());
}

TEST_CASE("loop: workers that must go for another reason go without a drain") {
  const std::string lowered = std::string(kConfig).replace(std::string(kConfig).find("max_workers: 4"), 14,
                                                           "max_workers: 1");
  Fixture f;
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 3}});
  f.tick();
  REQUIRE(f.workers().size() == 3);
  std::set<std::string> busy;
  for (const auto& w : f.workers()) busy.insert(w.id);
  f.report_nodes(busy);
  f.demand({});
  // The same cluster under a config with max_workers lowered to 1.
  ClusterOptions o;
  o.state_root = f.root;
  o.retry_backoff = 1ms;
  o.setup_attempts = 1;
  auto lowered_cluster = Cluster::open(load_spec_string(lowered, "loop.yaml"), o,
                                       std::make_unique<FakeProvider>(f.world));
  AutoscalerOptions ao;
  ao.load_source = f.load;
  ao.drainer = f.drainer;
  for (const auto& w : f.workers()) f.drainer->outcome["ray-" + w.id] = DrainResult::Outcome::unreachable;
  ao.now = [&f] { return f.now; };
  Autoscaler as(*lowered_cluster, ao);
  auto r = as.tick();
  as.drain();
  CHECK(r.terminated == 2);
  CHECK(f.drainer->asked.empty());
}

TEST_CASE("loop: pushed demand counts like the head's") {
  Fixture f;
  f.report_nodes({});
  f.as->report_demand({{ResourceMap{{"demo_slot", 1}}, 2}});
  CHECK(f.tick().launched == 2);
}

TEST_CASE("loop: a tick is skipped while another operation holds the cluster") {
  Fixture f;
  auto held = f.cluster->try_lock_operations();
  REQUIRE(held);
  // flock: a second descriptor of this process conflicts like another process would.
  auto r = f.as->tick();
  CHECK_FALSE(r.ran);
  REQUIRE(f.of("skipped").size() == 1);
  held.reset();
  CHECK(f.as->tick().ran);
}

TEST_CASE("loop: start() and stop() run ticks on a thread") {
  Fixture f;
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}}, 1}});
  f.as->start();
  for (int i = 0; i < 200 && f.of("node_ready").empty(); ++i)
    std::this_thread::sleep_for(10ms);
  f.as->stop();
  CHECK(f.of("node_ready").size() == 1);
}

TEST_CASE("loop: events serialise to one JSON line") {
  AutoscalerEvent e;
  e.type = "launch";
  e.node_type = "worker";
  e.count = 2;
  e.reason = "demand";
  e.node_ids = {"a", "b"};
  e.time = std::chrono::system_clock::from_time_t(1700000000);
  e.detail = "Authorization: Bearer abc";
  auto j = Value::parse_json(e.to_json());
  CHECK(j.find("event")->as_string() == "launch");
  CHECK(j.find("time")->as_number() == doctest::Approx(1700000000.0));
  CHECK(j.find("node_ids")->size() == 2);
  CHECK(j.find("detail")->as_string().find("abc") == std::string::npos);
  CHECK(e.to_json().find('\n') == std::string::npos);
}

// ---- startup-aware idle release (idle_release_after_startups, startup_seconds) ----

namespace {

// One worker type with Ray's 5-minute idle timeout and no per-type timeout;
// `top` and `worker` add keys at the top level and to the worker type.
std::string startup_config(const std::string& top, const std::string& worker) {
  return "cluster_name: loop\n"
         "provider:\n"
         "  type: localhost\n"
         "max_workers: 5\n"
         "idle_timeout_minutes: 5\n" +
         top +
         "head_node_type: head\n"
         "available_node_types:\n"
         "  head:\n"
         "    resources: {CPU: 1}\n"
         "    max_workers: 0\n"
         "  worker:\n"
         "    resources: {CPU: 2, demo_slot: 1}\n"
         "    max_workers: 4\n"
         "    initial_workers: 0\n" +
         worker +
         "setup_commands: [setup]\n"
         "head_start_ray_commands: [head-start]\n"
         "worker_start_ray_commands: [worker-start]\n";
}

// Launches one worker for demand and lets it become ready, then idle: the
// idle clock of the loop starts at the tick this returns after.
void launch_one_then_idle(Fixture& f) {
  f.report_nodes({});
  f.demand({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 1}});
  REQUIRE(f.tick().launched == 1);
  REQUIRE(f.of("node_ready").size() == 1);
  f.demand({});
  f.report_nodes({});  // connected, nothing running
  REQUIRE(f.tick().terminated == 0);
}

}  // namespace

TEST_CASE("loop: idle_release_after_startups releases an idle worker after k x the configured startup") {
  const double startup_s = 60, k = 0.5, idle_timeout_s = 5 * 60;
  const auto release_after = std::chrono::milliseconds(static_cast<long long>(k * startup_s * 1000));
  REQUIRE(release_after < std::chrono::milliseconds(static_cast<long long>(idle_timeout_s * 1000)));
  Fixture f(16, startup_config("idle_release_after_startups: 0.5\n", "    startup_seconds: 60\n"));
  // The fake setup takes no time on the fake clock, so the loop also learns
  // a startup of 0 s: the configured 60 s must win over it.
  launch_one_then_idle(f);
  f.now += release_after - 1s;
  CHECK(f.tick().terminated == 0);
  f.now += 2s;
  auto r = f.tick();
  CHECK(r.terminated == 1);
  auto terms = f.of("terminate");
  REQUIRE(terms.size() == 1);
  CHECK(terms[0].reason == "idle");
  CHECK(f.workers().empty());
}

TEST_CASE("loop: without idle_release_after_startups an idle worker stays until the idle timeout") {
  const double idle_timeout_s = 5 * 60;
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(idle_timeout_s * 1000));
  Fixture f(16, startup_config("", "    startup_seconds: 60\n"));
  launch_one_then_idle(f);
  f.now += 31s;  // past 0.5 x 60 s: the rule is off by default
  CHECK(f.tick().terminated == 0);
  f.now += timeout - 31s - 1s;  // just before the idle timeout
  CHECK(f.tick().terminated == 0);
  f.now += 2s;
  CHECK(f.tick().terminated == 1);
}

TEST_CASE("loop: idle_release_after_startups: 0 keeps Ray's plain idle timeout") {
  Fixture f(16, startup_config("idle_release_after_startups: 0\n", "    startup_seconds: 60\n"));
  launch_one_then_idle(f);
  f.now += 299s;
  CHECK(f.tick().terminated == 0);
  f.now += 2s;
  CHECK(f.tick().terminated == 1);
}

TEST_CASE("loop: the startup is learned from launch to ready on the loop's clock") {
  const double k = 0.5;
  const auto setup_takes = std::chrono::milliseconds(60000);
  const auto release_after =
      std::chrono::milliseconds(static_cast<long long>(k * static_cast<double>(setup_takes.count())));
  Fixture f(16, startup_config("idle_release_after_startups: 0.5\n", ""));
  // The clock moves on by setup_takes once the worker's start command ran:
  // the launch call reads the clock before, node_ready after.
  f.clock_extra = [&f, setup_takes] {
    std::lock_guard<std::mutex> lock(f.world.mu);
    for (const auto& c : f.world.commands)
      if (c.second == "worker-start") return setup_takes;
    return std::chrono::milliseconds(0);
  };
  launch_one_then_idle(f);
  auto ready = f.of("node_ready");
  REQUIRE(ready.size() == 1);
  CHECK(ready[0].detail.find("ready 60.0 s after launch") != std::string::npos);
  CHECK(ready[0].detail.find("startup estimate 60.0 s (median of 1)") != std::string::npos);
  f.now += release_after - 1s;
  CHECK(f.tick().terminated == 0);
  f.now += 2s;
  CHECK(f.tick().terminated == 1);
}

TEST_CASE("loop: a learned startup does not shorten the idle timeout when the key is absent") {
  Fixture f(16, startup_config("", ""));
  f.clock_extra = [&f] {
    std::lock_guard<std::mutex> lock(f.world.mu);
    for (const auto& c : f.world.commands)
      if (c.second == "worker-start") return std::chrono::milliseconds(60000);
    return std::chrono::milliseconds(0);
  };
  launch_one_then_idle(f);
  REQUIRE(f.of("node_ready").at(0).detail.find("ready 60.0 s") != std::string::npos);
  f.now += 299s;
  CHECK(f.tick().terminated == 0);
  f.now += 2s;
  CHECK(f.tick().terminated == 1);
}

TEST_CASE("loop: the learned startup is the median of the recent launches of the type") {
  // Each worker's setup takes the next of these on the loop's clock.
  const std::vector<std::chrono::milliseconds> takes = {10000ms, 100000ms, 20000ms};
  std::size_t started = 0;  // worker-start commands the clock has accounted for
  std::chrono::milliseconds extra{0};
  Fixture f(16, startup_config("", ""));
  f.clock_extra = [&] {
    std::lock_guard<std::mutex> lock(f.world.mu);
    std::size_t n = 0;
    for (const auto& c : f.world.commands) n += c.second == "worker-start";
    for (; started < n; ++started) extra += takes.at(started);
    return extra;
  };
  f.report_nodes({});
  for (std::size_t i = 0; i < takes.size(); ++i) {
    // One more task pending while the workers there are busy: one more worker.
    f.demand({{ResourceMap{{"CPU", 2}, {"demo_slot", 1}}, 1}});
    std::set<std::string> busy;
    for (const auto& w : f.workers()) busy.insert(w.id);
    f.report_nodes(busy);
    REQUIRE(f.tick().launched == 1);
  }
  auto ready = f.of("node_ready");
  REQUIRE(ready.size() == takes.size());
  // After 10 s: 10; after 10, 100: their mean 55; after 10, 100, 20: 20.
  CHECK(ready[0].detail.find("startup estimate 10.0 s (median of 1)") != std::string::npos);
  CHECK(ready[1].detail.find("startup estimate 55.0 s (median of 2)") != std::string::npos);
  CHECK(ready[2].detail.find("startup estimate 20.0 s (median of 3)") != std::string::npos);
}
