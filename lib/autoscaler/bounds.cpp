#include "autoscaler/bounds.hpp"

#include <algorithm>

namespace raycluster::detail {

WorkerRange type_worker_range(WorkerLimits type) {
  const int max = std::max(0, type.max_workers);
  return {std::clamp(type.min_workers, 0, max), max};
}

WorkerRange worker_range(WorkerLimits type, int cluster_max, int other_workers) {
  const WorkerRange own = type_worker_range(type);
  const int max = std::clamp(cluster_max - other_workers, 0, own.max);
  return {std::min(own.min, max), max};
}

int worker_room(WorkerLimits type, int cluster_max, int of_type, int all_workers) {
  return std::max(0, worker_range(type, cluster_max, all_workers - of_type).max - of_type);
}

WorkerBound broken_worker_bound(WorkerLimits type, int cluster_max,
                                std::optional<int> other_workers, int target) {
  if (target > type.max_workers) return WorkerBound::type_max;
  if (target < type.min_workers) return WorkerBound::type_min;
  if (other_workers && *other_workers + target > cluster_max) return WorkerBound::cluster_max;
  return WorkerBound::none;
}

}  // namespace raycluster::detail
