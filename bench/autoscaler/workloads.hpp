// trace-sim's built-in synthetic workloads (bench/README.md, "Workloads").
// Each has a fixed std::mt19937_64 seed, so it is the same on every run
// with the same standard library.
#pragma once

#include <vector>

#include "trace.hpp"

namespace tracesim {

Workload steady();
Workload bursty();
Workload diurnal();
Workload many_short();
Workload long_gpu();
Workload mixed();

// All of them, in the order above.
std::vector<Workload> builtin_workloads();

}  // namespace tracesim
