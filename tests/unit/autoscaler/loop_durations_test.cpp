// The reconcile loop with launch_payback: it reads task durations from the
// head's state API through the same dashboard URL as the load report (here a
// scripted transport serving answers recorded from Ray 2.60), hands them to
// the planner, and shows them; a failing or hanging state API holds no tick.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "monitor/autoscaler_loop.hpp"
#include "support/fake_cloud.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string& payback) {
  return "cluster_name: durations\n"
         "provider:\n"
         "  type: localhost\n"
         "max_workers: 10\n" +
         payback +
         "head_node_type: head\n"
         "available_node_types:\n"
         "  head:\n"
         "    resources: {CPU: 1}\n"
         "    max_workers: 0\n"
         "  worker:\n"
         "    resources: {CPU: 2}\n"
         "    max_workers: 10\n"
         "    startup_seconds: 60\n"
         "setup_commands: [setup]\n"
         "head_start_ray_commands: [head-start]\n"
         "worker_start_ray_commands: [worker-start]\n";
}

// The head's dashboard: /api/cluster_status with `queued` {CPU: 1} tasks,
// /api/v0/tasks as the test sets it (an answer, a status, or no answer
// until released).
struct Dashboard : HttpTransport {
  std::mutex mu;
  int queued = 0;
  int tasks_status = 200;
  std::string tasks_body;
  std::atomic<bool> hang{false};
  std::atomic<int> task_reads{0};
  std::vector<std::string> task_urls;

  std::size_t task_urls_seen() {
    std::lock_guard<std::mutex> lock(mu);
    return task_urls.size();
  }

  HttpResponse send(const HttpRequest& req, const CancelToken& cancel) override {
    HttpResponse r;
    r.status = 200;
    if (req.url.find("/api/cluster_status") != std::string::npos) {
      std::lock_guard<std::mutex> lock(mu);
      r.body = R"({"result":true,"data":{"clusterStatus":{"loadMetricsReport":{"resourceDemand":[)" +
               (queued ? R"([{"CPU":1.0},)" + std::to_string(queued) + "]" : std::string()) + "]}}}}";
      return r;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      task_urls.push_back(req.url);
    }
    while (hang && !cancel.cancelled()) std::this_thread::sleep_for(2ms);
    cancel.throw_if_cancelled();
    std::lock_guard<std::mutex> lock(mu);
    r.status = tasks_status;
    r.body = tasks_body;
    ++task_reads;
    return r;
  }
};

struct Fixture {
  testing::FakeCloud world;
  std::string root;
  std::unique_ptr<Cluster> cluster;
  std::shared_ptr<Dashboard> dash = std::make_shared<Dashboard>();
  std::mutex ev_mu;
  std::vector<AutoscalerEvent> events;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1700000000);
  std::unique_ptr<Autoscaler> as;

  explicit Fixture(const std::string& payback) {
    char tmpl[] = "/tmp/rc-durations-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    ClusterOptions o;
    o.state_root = root;
    o.retry_backoff = 1ms;
    o.setup_attempts = 1;
    cluster = Cluster::open(load_spec_string(config(payback), "d.yaml"), o,
                            std::make_unique<testing::FakeProvider>(world));
    cluster->up();
    dash->tasks_body = detail::read_file(std::string(RC_RAY_TASKS_DIR) + "/finished.json");
    AutoscalerOptions ao;
    ao.dashboard_url = "http://head.test:8265/";
    ao.transport = dash;
    ao.now = [this] { return now; };
    ao.on_event = [this](const AutoscalerEvent& e) {
      std::lock_guard<std::mutex> lock(ev_mu);
      events.push_back(e);
    };
    as = std::make_unique<Autoscaler>(*cluster, ao);
  }
  ~Fixture() {
    dash->hang = false;
    as.reset();
    detail::remove_tree(root);
  }
  std::vector<AutoscalerEvent> of(const std::string& type) {
    std::lock_guard<std::mutex> lock(ev_mu);
    std::vector<AutoscalerEvent> out;
    for (const auto& e : events)
      if (e.type == type) out.push_back(e);
    return out;
  }
  TickResult tick() {
    auto r = as->tick();
    as->drain();
    return r;
  }
  // Ticks (1 s apart on the loop's clock) until `type` is emitted; the read
  // runs on a thread of its own, so this waits a little in real time too.
  bool tick_until(const std::string& type) {
    for (int i = 0; i < 1000; ++i) {
      tick();
      if (!of(type).empty()) return true;
      now += 1s;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  int launched_for(int queued) {
    {
      std::lock_guard<std::mutex> lock(dash->mu);
      dash->queued = queued;
    }
    return tick().launched;
  }
};

}  // namespace

TEST_CASE("loop durations: with launch_payback the estimates are read from the dashboard and used") {
  Fixture f("launch_payback: 1\n");
  REQUIRE(f.tick_until("durations"));
  auto d = f.of("durations");
  REQUIRE(d.size() == 1);
  CHECK(d[0].detail.find(R"({"CPU":1}: )") != std::string::npos);
  CHECK(d[0].detail.find("4 tasks") != std::string::npos);
  CHECK(d[0].detail.find(R"({"CPU":0.5,"slot":1}: )") != std::string::npos);
  {
    std::lock_guard<std::mutex> lock(f.dash->mu);
    REQUIRE_FALSE(f.dash->task_urls.empty());
    // The same dashboard as the report, Ray's query parameters.
    CHECK(f.dash->task_urls[0].rfind("http://head.test:8265/api/v0/tasks?", 0) == 0);
    CHECK(f.dash->task_urls[0].find("filter_values=FINISHED") != std::string::npos);
    CHECK(f.dash->task_urls[0].find("detail=true") != std::string::npos);
  }
  // 300 queued {CPU: 1} tasks of about a second each, 60 s to start a node:
  // the head works through a good part of them meanwhile, and with
  // launch_payback 1 a new node is launched only per 60 s of work, so fewer
  // than Ray's cap of 5 (which the same queue gets without it, below).
  const int launched = f.launched_for(300);
  CHECK(launched >= 1);
  CHECK(launched < 5);
  auto launches = f.of("launch");
  REQUIRE(launches.size() == 1);
  CHECK(launches[0].reason == "demand");
  CHECK(launches[0].detail.find("task durations: ") != std::string::npos);
  CHECK(launches[0].detail.find(R"({"CPU":1}: )") != std::string::npos);
}

TEST_CASE("loop durations: without launch_payback nothing is read and launches are Ray's") {
  Fixture f("");
  for (int i = 0; i < 5; ++i) {
    f.tick();
    f.now += 10s;
  }
  CHECK(f.dash->task_reads == 0);
  CHECK(f.of("durations").empty());
  CHECK(f.launched_for(300) == 5);  // Ray's upscaling cap: max(5, 1 x running)
  REQUIRE(f.of("launch").size() == 1);
  CHECK(f.of("launch")[0].detail.empty());
}

TEST_CASE("loop durations: a failing state API is an event, the ticks go on, reads back off") {
  Fixture f("launch_payback: 1\n");
  {
    std::lock_guard<std::mutex> lock(f.dash->mu);
    f.dash->tasks_status = 500;
    f.dash->tasks_body = "Internal Server Error";
  }
  REQUIRE(f.tick_until("load_error"));
  auto errs = f.of("load_error");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].detail.rfind("task durations: ", 0) == 0);
  CHECK(errs[0].detail.find("HTTP 500") != std::string::npos);
  CHECK(f.of("durations").empty());
  const int reads = f.dash->task_reads;
  // Backing off: no new read within the next 9 s of the loop's clock.
  for (int i = 0; i < 9; ++i) {
    CHECK(f.tick().ran);
    f.now += 1s;
  }
  std::this_thread::sleep_for(20ms);
  CHECK(f.dash->task_reads == reads);
  // The same error again is not repeated as an event.
  CHECK(f.of("load_error").size() == 1);
  // Recovered: the estimates come.
  {
    std::lock_guard<std::mutex> lock(f.dash->mu);
    f.dash->tasks_status = 200;
    f.dash->tasks_body = detail::read_file(std::string(RC_RAY_TASKS_DIR) + "/finished.json");
  }
  f.now += 60s;
  REQUIRE(f.tick_until("durations"));
}

TEST_CASE("loop durations: a state API that does not answer holds no tick up") {
  Fixture f("launch_payback: 1\n");
  f.dash->hang = true;
  CHECK(f.tick().ran);
  // The read starts on a thread of its own.
  for (int i = 0; i < 2000 && f.dash->task_urls_seen() == 0; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(f.dash->task_urls_seen() == 1);
  for (int i = 0; i < 20; ++i) {
    // The read waits until released or cancelled: a tick that waited for it
    // would never return.
    CHECK(f.tick().ran);
    f.now += 1s;
  }
  CHECK(f.dash->task_urls_seen() == 1);  // one read in flight, not one per tick
  CHECK(f.dash->task_reads == 0);
  f.dash->hang = false;
  REQUIRE(f.tick_until("durations"));
}
