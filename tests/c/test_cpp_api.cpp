// The header-only C++ layer (raycluster.hpp) as a user builds it: C++17,
// linked against libraycluster.so only. Errors become exceptions carrying
// rc_error's detail, handles free what they own (the sanitizer build's leak
// check sees it) and move, callbacks run on library threads and outlive the
// cluster that started them. Localhost clusters that are never brought up:
// nothing here starts a process, so it runs in a second.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "raycluster/raycluster.hpp"

namespace rc = raycluster;
namespace fs = std::filesystem;

namespace {

template <class T>
constexpr bool move_only = !std::is_copy_constructible<T>::value &&
                           !std::is_copy_assignable<T>::value &&
                           std::is_nothrow_move_constructible<T>::value &&
                           std::is_nothrow_move_assignable<T>::value &&
                           std::is_nothrow_default_constructible<T>::value;
static_assert(move_only<rc::Spec>, "Spec is move-only");
static_assert(move_only<rc::Cluster>, "Cluster is move-only");
static_assert(move_only<rc::Operation>, "Operation is move-only");
static_assert(move_only<rc::Tunnel>, "Tunnel is move-only");
static_assert(move_only<rc::Autoscaler>, "Autoscaler is move-only");
static_assert(std::is_base_of<rc::Error, rc::ConfigError>::value, "ConfigError is an Error");
static_assert(std::is_base_of<std::runtime_error, rc::Error>::value, "Error is a runtime_error");

// A state root of its own, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rc-cpp-api-XXXXXX").string();
    REQUIRE(mkdtemp(&tmpl[0]) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// Shell-command nodes on this machine; the tests never bring them up.
std::string config(const std::string& name) {
  return "cluster_name: " + name +
         "\n"
         "provider:\n"
         "  type: localhost\n"
         "max_workers: 2\n"
         "head_node_type: head\n"
         "available_node_types:\n"
         "  head:\n"
         "    resources: {CPU: 1}\n"
         "    min_workers: 0\n"
         "    max_workers: 0\n"
         "  worker:\n"
         "    resources: {CPU: 1}\n"
         "    min_workers: 0\n"
         "    max_workers: 2\n"
         "head_start_ray_commands:\n"
         "  - nohup sleep 3600 > /dev/null 2>&1 &\n"
         "worker_start_ray_commands:\n"
         "  - nohup sleep 3600 > /dev/null 2>&1 &\n";
}

rc::Cluster open(const TempDir& root, const std::string& name, rc::EventCallback on_event = {}) {
  rc::ClusterOptions options;
  options.state_root = root.path.string();
  options.on_event = std::move(on_event);
  return rc::Cluster::open(rc::Spec::load_string(config(name), name + ".yaml"), options);
}

// The rc::Error `fn` throws (fails the test when it throws nothing).
template <class Fn>
rc::Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const rc::Error& e) {
    return e;
  }
  FAIL("no raycluster::Error thrown");
  return rc::Error(RC_OK, "", "");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Events as seen by a callback: which thread, what message.
struct Seen {
  std::mutex mu;
  std::vector<std::pair<std::thread::id, std::string>> events;
  rc::EventCallback recorder(const std::string& who) {
    return [this, who](const rc::Event& e) {
      std::lock_guard<std::mutex> lock(mu);
      events.emplace_back(std::this_thread::get_id(), who + ": " + e.message());
    };
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return events.size();
  }
};

}  // namespace

TEST_CASE("version, ABI version and status names come from the library") {
  CHECK(rc::version() == rc_version());
  CHECK(rc::abi_version() == RC_ABI_VERSION);
  CHECK(rc::status_name(RC_E_CONFIG) == "config");
  CHECK(rc::status_name(static_cast<rc_status>(12345)) == "unknown");
}

TEST_CASE("a bad config file is a ConfigError naming the file, line, column and key") {
  TempDir dir;
  const fs::path path = dir.path / "typo.yaml";
  std::ofstream(path) << "cluster_name: typo\n"
                         "provider: {type: localhost}\n"
                         "head_node_type: head\n"
                         "available_node_types:\n"
                         "  head:\n"
                         "    resources: {CPU: 1}\n"
                         "    max_wrokers: 0\n";
  try {
    rc::Spec::load_file(path.string());
    FAIL("no exception");
  } catch (const rc::ConfigError& e) {
    CHECK(e.code() == RC_E_CONFIG);
    CHECK(e.category() == "config");
    CHECK(e.file() == path.string());
    CHECK(e.line() == 7);
    CHECK(e.column() == 5);
    CHECK(contains(e.key(), "max_wrokers"));
    CHECK(contains(e.what(), path.string() + ":7:5"));
    CHECK(contains(e.what(), "max_workers"));  // the did-you-mean
    CHECK_FALSE(e.retryable());
    CHECK(e.request_id().empty());
  }
  // The same from text, under the name given for the file; any Error and
  // any std::exception catch it too.
  CHECK_THROWS_AS(rc::Spec::load_string("cluster_name: [", "inline.yaml"), rc::ConfigError);
  CHECK_THROWS_AS(rc::Spec::load_string("cluster_name: [", "inline.yaml"), std::runtime_error);
  rc::Error e = error_of([] { rc::Spec::load_string("cluster_name: [", "inline.yaml"); });
  CHECK(e.file() == "inline.yaml");
  CHECK(contains(e.what(), "inline.yaml"));
}

TEST_CASE("a missing config file is an io Error, not a ConfigError") {
  try {
    rc::Spec::load_file("/nonexistent/cluster.yaml");
    FAIL("no exception");
  } catch (const rc::ConfigError&) {
    FAIL("a missing file is not a config error");
  } catch (const rc::Error& e) {
    CHECK(e.code() == RC_E_IO);
    CHECK(e.category() == "io");
    CHECK(contains(e.what(), "/nonexistent/cluster.yaml"));
    CHECK(e.file().empty());
    CHECK(e.line() == 0);
  }
}

TEST_CASE("a spec loads, converts to JSON and moves; a moved-from one is empty") {
  rc::Spec a = rc::Spec::load_string(config("movespec"), "movespec.yaml");
  REQUIRE(a);
  CHECK(contains(a.to_json(), "movespec"));

  rc::Spec b = std::move(a);
  CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK(contains(b.to_json(), "movespec"));
  rc::Error e = error_of([&] { a.to_json(); });
  CHECK(e.code() == RC_E_INVALID_ARGUMENT);
  CHECK(contains(e.what(), "moved from"));

  // Assigning over a spec frees the old one (the leak check would see it).
  b = rc::Spec::load_string(config("other"), "other.yaml");
  CHECK(contains(b.to_json(), "other"));
  b = rc::Spec();
  CHECK_FALSE(b);
  CHECK(error_of([] { rc::Cluster::open(rc::Spec()); }).code() == RC_E_INVALID_ARGUMENT);
}

TEST_CASE("a cluster that is not up: queries answer, the head's absence is not_found") {
  TempDir root;
  rc::Cluster c = open(root, "nohead");
  CHECK(contains(c.status_json(), "\"nodes\""));
  CHECK(contains(c.status_json(), "nohead"));
  CHECK(c.worker_ips_json() == "[]");
  for (auto fn : {+[](rc::Cluster& cl) { cl.head_ip(); },
                  +[](rc::Cluster& cl) { cl.tunnel(); },
                  +[](rc::Cluster& cl) { cl.exec("true"); }}) {
    rc::Error e = error_of([&] { fn(c); });
    CHECK(e.code() == RC_E_NOT_FOUND);
    CHECK(e.category() == "not_found");
    CHECK(contains(e.what(), "no head"));
  }
}

TEST_CASE("bad arguments are invalid_argument errors naming what is wrong") {
  TempDir root;
  rc::ClusterOptions bad;
  bad.parallelism = -3;
  rc::Spec spec = rc::Spec::load_string(config("args"), "args.yaml");
  CHECK(error_of([&] { rc::Cluster::open(spec, bad); }).code() == RC_E_INVALID_ARGUMENT);

  rc::Cluster c = open(root, "args");
  rc::Error scale = error_of([&] { c.scale(-1); });
  CHECK(scale.code() == RC_E_INVALID_ARGUMENT);
  CHECK(scale.category() == "invalid_argument");
  CHECK(contains(scale.what(), "workers"));
  CHECK(error_of([&] { c.request_resources("{"); }).code() == RC_E_INVALID_ARGUMENT);
  CHECK(error_of([&] { c.tunnel(70000, 0); }).code() == RC_E_INVALID_ARGUMENT);

  c.request_resources(R"([{"CPU": 1}])");
  CHECK(fs::exists(root.path / "args" / "requested_resources.json"));
}

TEST_CASE("a moved-from cluster is empty; the moved-to one works") {
  TempDir root;
  rc::Cluster a = open(root, "movecluster");
  rc::Cluster b = std::move(a);
  CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move)
  REQUIRE(b);
  CHECK(contains(b.status_json(), "movecluster"));
  CHECK(error_of([&] { a.status_json(); }).code() == RC_E_INVALID_ARGUMENT);
  CHECK(error_of([&] { a.down(); }).code() == RC_E_INVALID_ARGUMENT);
  a = std::move(b);  // and back, over an empty one
  CHECK(contains(a.status_json(), "movecluster"));
  rc::Operation none;
  CHECK_FALSE(none);
  CHECK(error_of([&] { none.poll(); }).code() == RC_E_INVALID_ARGUMENT);
}

TEST_CASE("events reach the operation's callback, then the cluster's, on a library thread") {
  TempDir root;
  Seen seen;
  rc::Cluster c = open(root, "events", seen.recorder("cluster"));
  rc::DownOptions down;
  down.on_event = seen.recorder("down");
  c.down(down);  // nothing to terminate: one event, "0 node(s) terminated"

  std::lock_guard<std::mutex> lock(seen.mu);
  REQUIRE(seen.events.size() >= 2);
  CHECK(contains(seen.events[0].second, "down: "));
  CHECK(contains(seen.events[1].second, "cluster: "));
  CHECK(contains(seen.events[0].second, "terminated"));
  for (const auto& ev : seen.events) CHECK(ev.first != std::this_thread::get_id());
}

TEST_CASE("an async operation is polled, waited for and cancelled after its end") {
  TempDir root;
  rc::Cluster c = open(root, "async");
  rc::Operation op = c.down_async();
  CHECK(op.wait_for(std::chrono::seconds(30)));
  CHECK(op.poll());
  CHECK(op.wait_for(std::chrono::milliseconds(0)));
  op.cancel();  // after the end: fine
  op.result();  // it succeeded
  rc::Operation moved = std::move(op);
  CHECK_FALSE(op);  // NOLINT(bugprone-use-after-move)
  moved.wait();

  // An exec whose node is not there fails in its result, the same way
  // through the async form.
  rc::Error e = error_of([&] {
    rc::Operation exec = c.exec_async("true");
    exec.wait();
  });
  CHECK(e.code() == RC_E_NOT_FOUND);
}

TEST_CASE("an exception a callback throws is rethrown by the operation's wait") {
  TempDir root;
  rc::Cluster c = open(root, "throwing");
  rc::DownOptions down;
  down.on_event = [](const rc::Event&) { throw std::logic_error("thrown by the callback"); };
  rc::Operation op = c.down_async(down);
  CHECK_THROWS_WITH_AS(op.wait(), "thrown by the callback", std::logic_error);
  op.result();  // reported once; the operation itself succeeded

  // The cluster's callback: rethrown by the end of the operation whose
  // event it was given.
  std::atomic<bool> thrown{false};
  rc::Cluster d = open(root, "throwing2", [&](const rc::Event&) {
    if (!thrown.exchange(true)) throw std::out_of_range("thrown by the cluster's callback");
  });
  CHECK_THROWS_AS(d.down(), std::out_of_range);
  d.down();  // reported once
}

TEST_CASE("the callbacks outlive a cluster destroyed before its operation") {
  TempDir root;
  Seen seen;
  rc::Operation op;
  {
    rc::Cluster c = open(root, "outlive", seen.recorder("cluster"));
    rc::DownOptions down;
    down.on_event = seen.recorder("down");
    op = c.down_async(down);
  }  // the cluster goes first; the library may still call both callbacks
  op.wait();
  CHECK(seen.size() >= 2);
}

TEST_CASE("the autoscaler starts, reports through its callback and stops") {
  TempDir root;
  rc::Cluster c = open(root, "autoscale");
  std::atomic<int> events{0};
  rc::AutoscalerOptions options;
  options.interval = std::chrono::milliseconds(100);
  options.on_event = [&](const rc::Event& e) {
    if (contains(e.message(), "\"event\"")) ++events;  // one JSON object per decision
    if (events == 1) throw std::runtime_error("autoscaler callback");
  };
  rc::Autoscaler a = c.start_autoscaler(options);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (events < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(events >= 1);  // a "skipped" tick: the cluster has no head
  CHECK_THROWS_WITH_AS(a.stop(), "autoscaler callback", std::runtime_error);
  a.stop();  // idempotent, and the exception was reported once
  rc::Autoscaler b = std::move(a);
  CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move)
  CHECK(b);
}
