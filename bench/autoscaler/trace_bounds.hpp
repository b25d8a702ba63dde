// Lower bounds on the worker node-hours any policy needs for a workload
// under trace-sim's model (a node is billed from launch and usable
// startup_ms later). The derivation is in trace_bounds.cpp and in
// bench/README.md ("Lower bounds").
#pragma once

#include "trace.hpp"

namespace tracesim {

// Any policy, however long tasks wait: the least node-time whose capacity,
// resource by resource, holds the work of the tasks (taken per resource and
// per set of node types a task can use, combined by a linear program).
double work_bound_hours(const Workload& w);
// The same with cost_per_hour as the objective (every type needs a cost).
double work_bound_cost(const Workload& w);

// Any policy under which no task waits longer than `max_wait` for capacity
// (clairvoyant ones included): the larger of the level and window bounds.
double service_bound_hours(const Workload& w, ms_t max_wait);

}  // namespace tracesim
