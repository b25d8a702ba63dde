// Internal: the worker counts `scale` asked for, kept in the cluster's folder
// (worker_targets.json: {"<node type>": N}) so that a running autoscaler
// adopts them as each type's floor instead of undoing them.
#pragma once

#include <map>
#include <string>

#include "spec/spec.hpp"

namespace raycluster::detail {

inline constexpr const char* kWorkerTargetsFile = "worker_targets.json";

// The targets, or none when the file is absent. Throws Error(config) naming
// the file when it is not a JSON object of whole numbers >= 0 (at most 64 KiB).
std::map<std::string, int> read_worker_targets(const std::string& state_dir);
// Sets one type's target (atomically, keeping the others).
void write_worker_target(const std::string& state_dir, const std::string& node_type, int workers);
// Removes the file (a new `up` starts from the config's bounds again).
void clear_worker_targets(const std::string& state_dir);
// The spec with each targeted type's min_workers raised to its target, never
// above its max_workers; types the spec lacks are ignored.
ClusterSpec with_worker_targets(ClusterSpec spec, const std::map<std::string, int>& targets);

}  // namespace raycluster::detail
