// Internal: how many workers of each node type a cluster may have.
//
// One type's min_workers and max_workers, and the cluster's max_workers over
// all types, bound every count of workers: what `up` launches, what `scale`
// accepts and what the planner launches or keeps. These functions are the
// one place that says how the three combine. They are pure and thread-safe.
#pragma once

#include <optional>

namespace raycluster::detail {

// The bounds one node type sets on its own workers.
struct WorkerLimits {
  int min_workers = 0;
  int max_workers = 0;
};

// A closed range of worker counts; min <= max always.
struct WorkerRange {
  int min = 0;
  int max = 0;

  friend bool operator==(WorkerRange, WorkerRange) = default;
};

// The counts of a type's workers the type allows on its own: up to its
// max_workers (0 when negative), at least its min_workers lowered to that max
// (a min_workers above max_workers is not kept).
WorkerRange type_worker_range(WorkerLimits type);

// The counts of a type's workers allowed while `other_workers` workers of
// other types stay: type_worker_range() with the max lowered so that all
// workers together stay within `cluster_max` (never below 0), and the min
// lowered to that max.
WorkerRange worker_range(WorkerLimits type, int cluster_max, int other_workers);

// How many workers of the type may be added to `of_type` of its own, when
// the cluster has `all_workers` in total (of_type included); 0 when none.
int worker_room(WorkerLimits type, int cluster_max, int of_type, int all_workers);

enum class WorkerBound {
  none,         // the count is allowed
  type_max,     // above the type's max_workers
  type_min,     // below the type's min_workers
  cluster_max,  // with the other types' workers, above the cluster's max_workers
};

// The first bound that `target` workers of the type break, checked in the
// order type_max, type_min, cluster_max. Without `other_workers` (not known
// yet) the cluster's max_workers is not checked.
WorkerBound broken_worker_bound(WorkerLimits type, int cluster_max,
                                std::optional<int> other_workers, int target);

}  // namespace raycluster::detail
