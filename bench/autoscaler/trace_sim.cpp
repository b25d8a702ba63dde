// trace-sim: a trace simulator for the autoscaler, in simulated time.
//
// Workloads (the six built-in synthetic ones, or trace files) run against a
// simulated cluster (a head with no task capacity, the workload's worker
// types, a boot+setup delay before a launched node is usable) under two
// policies evaluated every tick:
//   ours      raycluster::plan() with the whole queue as (shape, count)
//             demand, costs and startup times on the node types, the ages
//             of pending nodes and task durations learnt from finished
//             tasks and the oldest queued task's wait per shape; Ray's
//             default config except upscaling_speed 3; the planner's
//             default launch_payback, payback_wait_startups and
//             keep_idle_startups;
//   ray-v1    Ray's classic rules: demand clipped to the first 1,000 queued
//             bundles, upscaling_speed 1, no costs (Ray's scorer), idle
//             nodes terminated after the idle timeout by the simulator
//             before planning, with no no-thrash check.
// Reported per workload and policy: worker node-hours (launch to
// termination, boot included), ratios to four lower bounds (trace_bounds.hpp,
// bench/README.md; one without sharing GPU nodes' CPUs), p50/p99/max wait,
// launches. --explain prints each policy's decisions per tick.
// Usage: see usage() below. No wall clock, no sleeping: the output is a
// function of the workloads only.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sim.hpp"
#include "trace.hpp"
#include "trace_bounds.hpp"
#include "workloads.hpp"

using namespace tracesim;

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: trace-sim [--out FILE] [--workload NAME]... [--trace FILE]...\n"
               "                 [--node-type NAME:RES=N;RES=N:MAX_WORKERS[:COST]]... [--boot-s S] [--setup-s S]\n"
               "                 [--idle-timeout-s S] [--ours-speed X] [--ours-idle-min X] [--ours-payback X]\n"
               "                 [--ours-keep-idle X]\n"
               "                 [--ours-wait-guard X] [--explain]\n"
               "       trace-sim --write-traces DIR\n"
               "Without --trace: the built-in workloads, results in bench/results/trace_sim.json.\n"
               "With --trace: those files (node types from their header, or --node-type), results in --out.\n"
               "--explain: each policy's decisions per tick on stderr.\n");
}

// The goals of `ours` at its own longest wait W: against lb_svc(W), and
// for mixed (where the bound lets CPU tasks use GPU nodes' spare CPUs at
// every instant, which the scheduler decides, not the autoscaler) also
// against the no-sharing bound lb_svc_ns(W).
double goal_of(const std::string& workload) {
  if (workload == "bursty") return 1.6;
  return workload == "mixed" ? 1.45 : 1.15;
}
double no_sharing_goal_of(const std::string& workload) { return workload == "mixed" ? 1.15 : 0; }

struct Row {
  Result r;
  double lb_work = 0, lb_cost = 0, lb_svc = 0, lb_0 = 0;
  double lb_svc_ns = 0;  // the service bound without sharing (Sharing::none)
};

std::string fmt(double v, int prec = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out += ch;
  }
  return out + "\"";
}

std::string row_json(const Row& x) {
  const Result& r = x.r;
  std::string by_type;
  for (const auto& [type, h] : r.node_hours_by_type) by_type += (by_type.empty() ? "" : ", ") + json_string(type) + ": " + fmt(h);
  return "    {\"workload\": " + json_string(r.workload) + ", \"policy\": \"" + r.policy +
         "\", \"tasks\": " + std::to_string(r.tasks) + ", \"node_hours\": " + fmt(r.node_hours) + ", \"node_hours_by_type\": {" + by_type + "}" +
         ", \"lower_bound_node_hours\": " + fmt(x.lb_work) + ", \"ratio_to_bound\": " + fmt(r.node_hours / x.lb_work) +
         ", \"service_bound_node_hours\": " + fmt(x.lb_svc) + ", \"service_bound_max_wait_s\": " + fmt(r.max_wait_s, 1) +
         ", \"ratio_to_service_bound\": " + fmt(r.node_hours / x.lb_svc) +
         ", \"no_sharing_service_bound_node_hours\": " + fmt(x.lb_svc_ns) +
         ", \"ratio_to_no_sharing_service_bound\": " + fmt(r.node_hours / x.lb_svc_ns) +
         ", \"zero_wait_bound_node_hours\": " + fmt(x.lb_0) + ", \"boot_hours\": " + fmt(r.boot_hours) +
         ", \"idle_hours\": " + fmt(r.idle_hours) +
         ", \"busy_and_partly_used_hours\": " + fmt(r.node_hours - r.boot_hours - r.idle_hours) +
         ", \"cost\": " + fmt(r.cost) + ", \"lower_bound_cost\": " + fmt(x.lb_cost) +
         ", \"p50_wait_s\": " + fmt(r.p50_wait_s, 1) + ", \"p99_wait_s\": " + fmt(r.p99_wait_s, 1) +
         ", \"max_wait_s\": " + fmt(r.max_wait_s, 1) + ", \"launches\": " + std::to_string(r.launches) +
         ", \"terminations\": " + std::to_string(r.terminations) +
         ", \"peak_workers\": " + std::to_string(r.peak_workers) + ", \"sim_hours\": " + fmt(r.sim_hours, 2) + "}";
}

std::string goal_json(const Row& o, const Row& ray) {
  const double sratio = o.r.node_hours / o.lb_svc;
  const double saving = 1.0 - o.r.node_hours / ray.r.node_hours;
  const double goal = goal_of(o.r.workload), ns_goal = no_sharing_goal_of(o.r.workload);
  const double ns_ratio = o.r.node_hours / o.lb_svc_ns;
  const bool met = sratio <= goal && (ns_goal <= 0 || ns_ratio <= ns_goal);
  std::string ns;
  if (ns_goal > 0) ns = ", \"no_sharing_goal_ratio\": " + fmt(ns_goal, 2);
  return "    {\"workload\": " + json_string(o.r.workload) + ", \"ours_ratio_to_bound\": " +
         fmt(o.r.node_hours / o.lb_work) + ", \"ours_ratio_to_service_bound\": " + fmt(sratio) +
         ", \"ours_ratio_to_no_sharing_service_bound\": " + fmt(ns_ratio) +
         ", \"service_bound_max_wait_s\": " + fmt(o.r.max_wait_s, 1) + ", \"goal_ratio\": " + fmt(goal, 2) + ns +
         ", \"goal_met\": " + (met ? "true" : "false") +
         ", \"ray_ratio_to_service_bound\": " + fmt(ray.r.node_hours / ray.lb_svc) +
         ", \"node_hours_saving_vs_ray\": " + fmt(saving) +
         ", \"p99_not_worse\": " + (o.r.p99_wait_s <= ray.r.p99_wait_s ? "true" : "false") + "}";
}

struct Options {
  std::string out;
  bool out_given = false;
  std::vector<std::string> only;
  bool explain = false;
  std::vector<std::string> traces;
  std::string write_dir;
  std::vector<NodeTypeSpec> node_types;
  double boot_s = -1, setup_s = -1, idle_s = -1;
  OursOptions ours;
};

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--explain") {
      o.explain = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    const double num = std::atof(v.c_str());
    if (a == "--out") o.out = v, o.out_given = true;
    else if (a == "--workload") o.only.push_back(v);
    else if (a == "--trace") o.traces.push_back(v);
    else if (a == "--write-traces") o.write_dir = v;
    else if (a == "--node-type") o.node_types.push_back(parse_node_type_flag(v));
    else if (a == "--boot-s") o.boot_s = num;
    else if (a == "--setup-s") o.setup_s = num;
    else if (a == "--idle-timeout-s") o.idle_s = num;
    else if (a == "--ours-speed") o.ours.speed = num;
    else if (a == "--ours-idle-min") o.ours.idle_minutes = num;
    else if (a == "--ours-payback") o.ours.payback = num;
    else if (a == "--ours-keep-idle") o.ours.keep_idle = num;
    else if (a == "--ours-wait-guard") o.ours.wait_guard = num;
    else return false;
  }
  return true;
}

// Flags given on the command line replace what the trace's header says.
void apply_cluster_flags(const Options& o, ClusterSpec& c) {
  if (!o.node_types.empty()) {
    c.node_types = o.node_types;
    c.max_workers = 0;
    for (const auto& t : c.node_types) c.max_workers += t.max_workers;
  }
  if (o.boot_s >= 0) c.boot_ms = static_cast<ms_t>(o.boot_s * 1000);
  if (o.setup_s >= 0) c.setup_ms = static_cast<ms_t>(o.setup_s * 1000);
  if (o.idle_s >= 0) c.idle_timeout_ms = static_cast<ms_t>(o.idle_s * 1000);
}

std::vector<Workload> load_workloads(const Options& o) {
  std::vector<Workload> ws;
  if (o.traces.empty()) {
    for (Workload& w : builtin_workloads())
      if (o.only.empty() || std::find(o.only.begin(), o.only.end(), w.name) != o.only.end()) ws.push_back(std::move(w));
  } else {
    ClusterSpec fallback = default_cluster();
    for (const std::string& f : o.traces) ws.push_back(read_trace(f, fallback));
  }
  for (Workload& w : ws) apply_cluster_flags(o, w.cluster);
  return ws;
}

void print_table(const std::vector<Row>& rows) {
  std::printf("%-11s %-7s %7s %8s %8s %6s %8s %7s %6s %8s %6s %8s %6s %6s %6s %7s %7s %7s %7s %5s\n", "workload",
              "policy", "tasks", "node_h", "lb_work", "ratio", "lb_svc", "(W s)", "ratio", "lb_svcns", "ratio", "lb_0",
              "ratio", "boot_h", "idle_h", "p50_s", "p99_s", "max_s", "launch", "peak");
  for (const Row& x : rows) {
    const Result& r = x.r;
    std::printf(
        "%-11s %-7s %7zu %8.2f %8.2f %6.3f %8.2f %7.0f %6.3f %8.2f %6.3f %8.2f %6.3f %6.2f %6.2f %7.1f %7.1f %7.1f %7d "
        "%5d\n",
        r.workload.c_str(), r.policy.c_str(), r.tasks, r.node_hours, x.lb_work, r.node_hours / x.lb_work, x.lb_svc,
        r.max_wait_s, r.node_hours / x.lb_svc, x.lb_svc_ns, r.node_hours / x.lb_svc_ns, x.lb_0, r.node_hours / x.lb_0,
        r.boot_hours, r.idle_hours, r.p50_wait_s, r.p99_wait_s, r.max_wait_s, r.launches, r.peak_workers);
  }
  std::printf(
      "\nlb_work: any policy; lb_svc: any policy whose longest wait <= this row's (W); lb_svcns: the same with no "
      "sharing\n(tasks that ask for no GPU run on nodes without GPUs); lb_0: no waits\n");
  std::printf("goal (ours): node_h <= 1.15 x lb_svc (bursty: 1.6 x; mixed: 1.45 x and <= 1.15 x lb_svcns)\n");
}

std::string results_json(const Options& o, const std::vector<Row>& rows) {
  std::string json = "{\n  \"ours\": {\"upscaling_speed\": " + fmt(o.ours.speed, 2) +
                     ", \"idle_timeout_minutes\": " + fmt(o.ours.idle_minutes, 2) +
                     ", \"launch_payback\": " + fmt(o.ours.payback, 2) +
                     ", \"keep_idle_startups\": " + fmt(o.ours.keep_idle, 2) +
                     ", \"payback_wait_startups\": " + fmt(o.ours.wait_guard, 2) + "},\n  \"tick_s\": 5,\n  \"results\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) json += row_json(rows[i]) + (i + 1 < rows.size() ? ",\n" : "\n");
  json += "  ],\n  \"goals\": [\n";
  for (std::size_t i = 0; i + 1 < rows.size(); i += 2)
    json += goal_json(rows[i], rows[i + 1]) + (i + 2 < rows.size() ? ",\n" : "\n");
  return json + "  ]\n}\n";
}

int write_traces(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const Workload& w : builtin_workloads()) {
    const std::string path = dir + "/" + w.name + ".jsonl";
    write_trace(path, w);
    std::printf("%s: %zu tasks\n", path.c_str(), w.tasks.size());
  }
  return 0;
}

int run(const Options& o) {
  if (!o.write_dir.empty()) return write_traces(o.write_dir);
  const std::vector<Workload> workloads = load_workloads(o);
  std::vector<Row> rows;
  for (const Workload& w : workloads) {
    const double lb_work = work_bound_hours(w), lb_cost = work_bound_cost(w), lb_0 = service_bound_hours(w, 0);
    for (PolicyKind p : {PolicyKind::ours, PolicyKind::ray_v1}) {
      Row x;
      if (o.explain) std::fprintf(stderr, "# %s %s\n", w.name.c_str(), policy_name(p));
      x.r = simulate(w, p, o.ours, o.explain ? stderr : nullptr);
      x.lb_work = lb_work, x.lb_cost = lb_cost, x.lb_0 = lb_0;
      x.lb_svc = service_bound_hours(w, x.r.max_wait_ms);
      x.lb_svc_ns = service_bound_hours(w, x.r.max_wait_ms, Sharing::none);
      rows.push_back(x);
    }
  }
  print_table(rows);
  std::string out = o.out;
  if (!o.out_given && o.traces.empty() && o.only.empty()) out = "bench/results/trace_sim.json";
  if (out.empty()) return 0;
  std::FILE* f = std::fopen(out.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "trace-sim: cannot write %s\n", out.c_str());
    return 1;
  }
  std::fputs(results_json(o, rows).c_str(), f);
  std::fclose(f);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!parse_args(argc, argv, o)) {
      usage();
      return 2;
    }
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trace-sim: %s\n", e.what());
    return 1;
  }
}
