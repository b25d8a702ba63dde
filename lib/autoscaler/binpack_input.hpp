// Internal: reads the `ray-binpack-input/1` benchmark format (see
// bench/inputs/README.md) into a PlannerInput, for the
// planner benchmark and tests.
//
// Mapping: node types (resources, min/max_workers), nodes (kind, node_type,
// total, available; status "up-to-date", idle_for 0), launching_nodes,
// demands (one ResourceDemand of count 1 each, in queue order, so plan()
// does the aggregation), pending_placement_groups (objects with "strategy"
// PACK|SPREAD|STRICT_PACK|STRICT_SPREAD and "bundles", or a bare bundle
// list meaning PACK), ensure_min_cluster_size (request_resources floors),
// max_workers and upscaling_speed (policy). `now` is the epoch.
#pragma once

#include <string>
#include <string_view>

#include "autoscaler/autoscaler.hpp"

namespace raycluster::detail {

// Throws raycluster::Error(invalid_argument) on malformed input.
PlannerInput binpack_input_from_json(std::string_view text);
// Reads the file; throws raycluster::Error(io) when it cannot be read.
PlannerInput load_binpack_input(const std::string& path);

}  // namespace raycluster::detail
