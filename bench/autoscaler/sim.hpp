// trace-sim's simulated cluster and its two policies (bench/README.md).
// Time is simulated in integer milliseconds and jumps from event to event;
// nothing reads the wall clock, so a result is a function of the workload.
#pragma once

#include <cstdio>
#include <map>
#include <string>

#include "autoscaler/autoscaler.hpp"
#include "trace.hpp"

namespace tracesim {

// Settings of the `ours` policy. Defaults: Ray's default config except
// upscaling_speed 3 (the idle timeout is the cluster's), and the planner's
// own defaults for its rules.
struct OursOptions {
  double speed = 3.0;                                                 // upscaling_speed
  double idle_minutes = -1;                                           // < 0: the cluster's idle timeout
  double payback = raycluster::PlannerPolicy{}.launch_payback;        // launch_payback
  double keep_idle = raycluster::PlannerPolicy{}.keep_idle_startups;  // keep_idle_startups
  double wait_guard = raycluster::PlannerPolicy{}.payback_wait_startups;  // payback_wait_startups
};

enum class PolicyKind { ours, ray_v1 };
const char* policy_name(PolicyKind p);

struct Result {
  std::string workload;
  std::string policy;
  std::size_t tasks = 0;
  double node_hours = 0;
  double boot_hours = 0;
  double idle_hours = 0;
  double cost = 0;
  std::map<std::string, double> node_hours_by_type;
  double p50_wait_s = 0;
  double p99_wait_s = 0;
  double max_wait_s = 0;
  ms_t max_wait_ms = 0;
  int launches = 0;
  int terminations = 0;
  int peak_workers = 0;
  double sim_hours = 0;
};

// Runs `w` on its cluster under policy `p`. With `explain`, writes one line
// per tick at which the policy launched or terminated nodes or tasks were
// queued: the time, the queue (tasks, oldest wait), the workers (usable,
// busy, pending), the duration estimates the policy got, and its decisions.
Result simulate(const Workload& w, PolicyKind p, const OursOptions& ours = {}, std::FILE* explain = nullptr);

}  // namespace tracesim
