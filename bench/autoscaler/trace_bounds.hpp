// Lower bounds on the worker node-hours any policy needs for a workload
// under trace-sim's model (a node is billed from launch and usable
// startup_ms later). The derivation is in trace_bounds.cpp and in
// bench/README.md ("Lower bounds").
#pragma once

#include "trace.hpp"

namespace tracesim {

// Which node types a task shape may run on in the bounds.
//   any   every type it fits (a GPU node's spare CPUs run CPU tasks);
//   none  no sharing: a shape that asks for no GPU runs only on the types
//         without GPUs that fit it (every type it fits when there is none),
//         as Ray's scheduler places it by default (scheduler_avoid_gpu_nodes)
//         when such nodes have room. Shapes that ask for GPUs are unchanged.
enum class Sharing { any, none };

// Any policy, however long tasks wait: the least node-time whose capacity,
// resource by resource, holds the work of the tasks (taken per resource and
// per set of node types a task can use, combined by a linear program).
double work_bound_hours(const Workload& w, Sharing sharing = Sharing::any);
// The same with cost_per_hour as the objective (every type needs a cost).
double work_bound_cost(const Workload& w);

// Any policy under which no task waits longer than `max_wait` for capacity
// (clairvoyant ones included): the larger of the level and window bounds.
double service_bound_hours(const Workload& w, ms_t max_wait, Sharing sharing = Sharing::any);

}  // namespace tracesim
