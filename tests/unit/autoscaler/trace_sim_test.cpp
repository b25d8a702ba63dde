// trace-sim's trace files and lower bounds (bench/autoscaler/).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "sim.hpp"
#include "trace.hpp"
#include "trace_bounds.hpp"
#include "workloads.hpp"

using namespace tracesim;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("trace-sim-test-" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& text = "") const {
    const std::string p = (path / name).string();
    if (!text.empty()) std::ofstream(p) << text;
    return p;
  }
};

void check_same_tasks(const Workload& a, const Workload& b) {
  REQUIRE(a.tasks.size() == b.tasks.size());
  for (std::size_t i = 0; i < a.tasks.size(); ++i) {
    CHECK(a.tasks[i].arrival == b.tasks[i].arrival);
    CHECK(a.tasks[i].duration == b.tasks[i].duration);
    CHECK(a.shapes[static_cast<std::size_t>(a.tasks[i].shape)] == b.shapes[static_cast<std::size_t>(b.tasks[i].shape)]);
  }
}

void check_same_result(const Result& a, const Result& b) {
  CHECK(a.node_hours == b.node_hours);
  CHECK(a.boot_hours == b.boot_hours);
  CHECK(a.idle_hours == b.idle_hours);
  CHECK(a.max_wait_ms == b.max_wait_ms);
  CHECK(a.p99_wait_s == b.p99_wait_s);
  CHECK(a.launches == b.launches);
  CHECK(a.terminations == b.terminations);
}

// The error read_trace gives for `text`, or "" when it reads.
std::string error_of(const TempDir& dir, const std::string& name, const std::string& text) {
  try {
    read_trace(dir.file(name, text), default_cluster());
  } catch (const TraceError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a generated workload written to a trace file reads back to the same simulation") {
  TempDir dir;
  const Workload w = mixed();
  const std::string path = dir.file("mixed.jsonl");
  write_trace(path, w);
  // Another cluster as fallback: the header must win.
  ClusterSpec other;
  other.node_types = {{"x", {{"CPU", 2}}, 3, 0}};
  const Workload back = read_trace(path, other);
  CHECK(back.name == "mixed");
  check_same_tasks(w, back);
  REQUIRE(back.cluster.node_types.size() == w.cluster.node_types.size());
  for (std::size_t t = 0; t < w.cluster.node_types.size(); ++t) {
    CHECK(back.cluster.node_types[t].name == w.cluster.node_types[t].name);
    CHECK(back.cluster.node_types[t].resources == w.cluster.node_types[t].resources);
    CHECK(back.cluster.node_types[t].max_workers == w.cluster.node_types[t].max_workers);
    CHECK(back.cluster.node_types[t].cost_per_hour == w.cluster.node_types[t].cost_per_hour);
  }
  CHECK(back.cluster.startup_ms() == w.cluster.startup_ms());
  CHECK(back.cluster.idle_timeout_ms == w.cluster.idle_timeout_ms);
  CHECK(back.cluster.max_workers == w.cluster.max_workers);
  for (PolicyKind p : {PolicyKind::ours, PolicyKind::ray_v1}) check_same_result(simulate(w, p), simulate(back, p));
  CHECK(service_bound_hours(w, 60 * kSec) == service_bound_hours(back, 60 * kSec));
}

TEST_CASE("CSV and JSON lines traces read to the same tasks; comments, blanks and extra keys are skipped") {
  TempDir dir;
  const Workload j = read_trace(dir.file("a.jsonl",
                                         "# made by hand\n"
                                         "\n"
                                         "{\"arrival_s\": 2.5, \"duration_s\": 30, \"resources\": {\"CPU\": 1, \"GPU\": 1}, "
                                         "\"id\": \"x\"}\n"
                                         "{\"arrival_s\": 0, \"duration_s\": 1.25, \"resources\": {\"CPU\": 2}}\n"),
                                default_cluster());
  const Workload c = read_trace(dir.file("a.csv",
                                         "arrival_s,duration_s,resources\n"
                                         "# a comment\n"
                                         "2.5,30,CPU=1;GPU=1\n"
                                         "\n"
                                         "0,1.25,CPU=2\n"),
                                default_cluster());
  check_same_tasks(j, c);
  CHECK(j.name == "a");
  REQUIRE(j.tasks.size() == 2);
  CHECK(j.tasks[0].arrival == 0);  // sorted by arrival
  CHECK(j.tasks[0].duration == 1250);
  CHECK(j.cluster.node_types.size() == default_cluster().node_types.size());
}

TEST_CASE("bad trace lines are refused with file and line") {
  TempDir dir;
  const std::string ok = "{\"arrival_s\": 1, \"duration_s\": 2, \"resources\": {\"CPU\": 1}}\n";
  auto check = [&](const std::string& text, const std::string& where, const std::string& what) {
    const std::string name = "bad.jsonl";
    const std::string e = error_of(dir, name, text);
    INFO(e);
    CHECK(e.find((dir.path / name).string() + ":" + where + ": ") == 0);
    CHECK(e.find(what) != std::string::npos);
  };
  check(ok + "{\"arrival_s\": 1, \"resources\": {\"CPU\": 1}}\n", "2", "duration_s");
  check(ok + "\n{\"arrival_s\": -1, \"duration_s\": 2, \"resources\": {\"CPU\": 1}}\n", "3", "arrival_s");
  check(ok + "{\"arrival_s\": 1, \"duration_s\": 2, \"resources\": {\"CPU\": \"one\"}}\n", "2", "resources.CPU");
  check(ok + "{\"arrival_s\": 1, \"duration_s\": 2, \"resources\": {}}\n", "2", "resources");
  check(ok + "{\"arrival_s\": 1, \n", "2", "invalid JSON");
  check(ok + "{\"trace\": {\"node_types\": {\"cpu\": {\"resources\": {\"CPU\": 8}, \"max_workers\": 2}}}}\n", "2",
        "first line");
  check("{\"trace\": {\"node_types\": {\"cpu\": {\"resources\": {\"CPU\": 8}}}}}\n" + ok, "1",
        "trace.node_types.cpu.max_workers");
  const std::string csv = "arrival_s,duration_s,resources\n1,2,CPU=1\n";
  const std::string name = "bad.csv";
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {csv + "1,x,CPU=1\n", "duration_s"}, {csv + "1,2,CPU\n", "NAME=AMOUNT"}, {csv + "1,2\n", "columns"}}) {
    const std::string e = error_of(dir, name, text);
    INFO(e);
    CHECK(e.find((dir.path / name).string() + ":3: ") == 0);
    CHECK(e.find(what) != std::string::npos);
  }
  CHECK(error_of(dir, "h.csv", "arrival,duration_s,resources\n").find(":1: CSV header") != std::string::npos);
  CHECK(error_of(dir, "empty.jsonl", "# nothing\n").find("no tasks") != std::string::npos);
}

// ---- the bounds against a brute-force optimum ------------------------------

namespace {

struct Choice {
  std::vector<ms_t> start;
};

// The least worker node-time (ms) of any schedule of `w` whose tasks start
// on the grid a_j, a_j + step, ... up to a_j + max_wait: every partition of
// the tasks into nodes and every type per node, each node launched exactly
// startup before its first task and released after its last. Each such
// schedule is possible under the model, so a true lower bound is at most
// this minimum. `sharing` none: a task that asks for no GPU never runs on
// a node of a type with GPUs (the tiny trace's cpu type fits every such task).
double brute_force_ms(const Workload& w, ms_t max_wait, ms_t step, Sharing sharing = Sharing::any) {
  const std::size_t n = w.tasks.size();
  const auto& types = w.cluster.node_types;
  const double startup = static_cast<double>(w.cluster.startup_ms());
  auto fits = [&](const Resources& need, const Resources& cap, double k) {
    for (const auto& [r, v] : need) {
      auto it = cap.find(r);
      if (it == cap.end() || k * v > it->second + 1e-9) return false;
    }
    return true;
  };
  // Cost of one node of type t holding `group` started at `start`; < 0 if impossible.
  auto node_cost = [&](const std::vector<std::size_t>& group, const NodeTypeSpec& t, const std::vector<ms_t>& start) {
    ms_t first = start[group[0]], last = 0;
    const bool gpu_node = t.resources.count("GPU") > 0;
    for (std::size_t j : group) {
      const Task& task = w.tasks[j];
      if (sharing == Sharing::none && gpu_node && !w.shapes[static_cast<std::size_t>(task.shape)].count("GPU"))
        return -1.0;
      first = std::min(first, start[j]);
      last = std::max(last, start[j] + task.duration);
      Resources load;  // what runs at start[j]
      for (std::size_t i : group)
        if (start[i] <= start[j] && start[j] < start[i] + w.tasks[i].duration)
          for (const auto& [r, v] : w.shapes[static_cast<std::size_t>(w.tasks[i].shape)]) load[r] += v;
      if (!fits(load, t.resources, 1)) return -1.0;
    }
    return static_cast<double>(last - first) + startup;
  };
  double best = 1e300;
  std::vector<ms_t> start(n);
  std::vector<int> part(n, 0);
  std::function<void(std::size_t, int)> partitions;
  auto evaluate = [&](int groups) {
    std::vector<std::vector<std::size_t>> g(static_cast<std::size_t>(groups));
    for (std::size_t j = 0; j < n; ++j) g[static_cast<std::size_t>(part[j])].push_back(j);
    double total = 0;
    for (const auto& group : g) {
      double cheapest = -1;
      for (const auto& t : types) {
        const double c = node_cost(group, t, start);
        if (c >= 0 && (cheapest < 0 || c < cheapest)) cheapest = c;
      }
      if (cheapest < 0) return;
      total += cheapest;
    }
    best = std::min(best, total);
  };
  partitions = [&](std::size_t j, int groups) {
    if (j == n) return evaluate(groups);
    for (int k = 0; k <= groups; ++k) {
      part[j] = k;
      partitions(j + 1, std::max(groups, k + 1));
    }
  };
  std::function<void(std::size_t)> starts = [&](std::size_t j) {
    if (j == n) return partitions(0, 0);
    for (ms_t s = 0; s <= max_wait; s += step) {
      start[j] = w.tasks[j].arrival + s;
      starts(j + 1);
    }
  };
  starts(0);
  return best;
}

Workload tiny() {
  Workload w;
  w.name = "tiny";
  w.cluster.node_types = {{"cpu", {{"CPU", 2}}, 4, 0}, {"gpu", {{"CPU", 2}, {"GPU", 1}}, 4, 0}};
  w.cluster.boot_ms = 20 * kSec, w.cluster.setup_ms = 10 * kSec;
  w.add(0, 100 * kSec, {{"CPU", 1}, {"GPU", 1}});
  w.add(0, 100 * kSec, {{"CPU", 1}});
  w.add(40 * kSec, 100 * kSec, {{"CPU", 1}});
  w.add(150 * kSec, 60 * kSec, {{"CPU", 2}});
  w.add(170 * kSec, 50 * kSec, {{"GPU", 1}});
  w.sort();
  return w;
}

}  // namespace

TEST_CASE("the bounds never exceed a brute-force optimum of a tiny mixed CPU+GPU trace") {
  const Workload w = tiny();
  const double work = work_bound_hours(w) * static_cast<double>(kHour);
  for (ms_t wait : {ms_t{0}, 30 * kSec, 60 * kSec}) {
    const double opt = brute_force_ms(w, wait, 15 * kSec);
    const double svc = service_bound_hours(w, wait) * static_cast<double>(kHour);
    INFO("max wait " << wait << " ms: optimum " << opt << ", lb_svc " << svc << ", lb_work " << work);
    CHECK(svc <= opt + 1e-6);
    CHECK(work <= opt + 1e-6);
    CHECK(svc >= work - 1e-6);  // the service bound includes the work and some startup
  }
  // W = 0 leaves no choice of start times: the brute force is exact there,
  // and the bound is close to it.
  const double opt0 = brute_force_ms(w, 0, 15 * kSec);
  CHECK(service_bound_hours(w, 0) * static_cast<double>(kHour) >= 0.75 * opt0);
  // Adding the per-resource bounds instead of combining them would not be a
  // lower bound here: the GPU node's CPUs also run CPU tasks.
  double cpu = 0, gpu = 0;
  for (const Task& t : w.tasks) {
    const Resources& s = w.shapes[static_cast<std::size_t>(t.shape)];
    cpu += (s.count("CPU") ? s.at("CPU") : 0) * static_cast<double>(t.duration);
    gpu += (s.count("GPU") ? s.at("GPU") : 0) * static_cast<double>(t.duration);
  }
  const double summed = cpu / 2 + gpu / 1;
  CHECK(summed > brute_force_ms(w, 60 * kSec, 15 * kSec));
  CHECK(work == doctest::Approx(std::max(cpu / 2, gpu)).epsilon(1e-9));
}

TEST_CASE("the no-sharing bounds never exceed a brute-force optimum in which CPU tasks avoid GPU nodes") {
  const Workload w = tiny();
  // By hand: CPU-only tasks need 100 + 100 + 2 * 60 = 320 CPU-s on cpu
  // nodes of 2 CPUs (160 node-s); the GPU tasks 100 + 50 = 150 GPU-s on gpu
  // nodes (their CPU, 100 CPU-s, fits in those 150 node-s): 310 node-s, where
  // sharing allows max(420 / 2, 150) = 210.
  CHECK(work_bound_hours(w, Sharing::none) * static_cast<double>(kHour) == doctest::Approx(310 * kSec));
  CHECK(work_bound_hours(w) * static_cast<double>(kHour) == doctest::Approx(210 * kSec));
  for (ms_t wait : {ms_t{0}, 30 * kSec, 60 * kSec}) {
    const double opt = brute_force_ms(w, wait, 15 * kSec, Sharing::none);
    const double svc = service_bound_hours(w, wait, Sharing::none) * static_cast<double>(kHour);
    INFO("max wait " << wait << " ms: no-sharing optimum " << opt << ", lb_svc_ns " << svc);
    CHECK(svc <= opt + 1e-6);
    CHECK(svc >= service_bound_hours(w, wait) * static_cast<double>(kHour) - 1e-6);  // fewer choices, no less
    CHECK(svc >= work_bound_hours(w, Sharing::none) * static_cast<double>(kHour) - 1e-6);
  }
  // W = 0: exact start times; the bound is close to the optimum, and above
  // the optimum with sharing, so it is a different, tighter figure.
  const double opt0 = brute_force_ms(w, 0, 15 * kSec, Sharing::none);
  const double svc0 = service_bound_hours(w, 0, Sharing::none) * static_cast<double>(kHour);
  CHECK(svc0 >= 0.75 * opt0);
  CHECK(svc0 > brute_force_ms(w, 0, 15 * kSec));
  // Without a type free of GPUs, a CPU task may use a GPU node: no change.
  Workload gpu_only = w;
  gpu_only.cluster.node_types.erase(gpu_only.cluster.node_types.begin());
  CHECK(service_bound_hours(gpu_only, 30 * kSec, Sharing::none) == service_bound_hours(gpu_only, 30 * kSec));
}

TEST_CASE("the work bound combines resources by a linear program, not a max, when GPU nodes have fewer CPUs") {
  Workload w;
  w.cluster.node_types = {{"cpu", {{"CPU", 8}}, 10, 0}, {"gpu", {{"CPU", 4}, {"GPU", 1}}, 10, 0}};
  w.add(0, kHour, {{"GPU", 1}});
  w.add(0, kHour, {{"GPU", 1}});
  for (int i = 0; i < 16; ++i) w.add(0, kHour, {{"CPU", 1}});
  // Two GPU node-hours must be bought; they bring 8 CPU-hours, the other 8
  // need one cpu node-hour: 3, more than max(16 / 8, 2) = 2.
  CHECK(work_bound_hours(w) == doctest::Approx(3.0));
  // And a schedule of exactly 3 node-hours (plus startups) exists: the
  // zero-wait bound counts the startups too.
  CHECK(service_bound_hours(w, 0) == doctest::Approx(3.0 + 3 * static_cast<double>(w.cluster.startup_ms()) / kHour));
}
