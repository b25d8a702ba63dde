// Load sources of the reconcile loop: Ray's head report and the persisted
// resource request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/autoscaler_loop.hpp"

namespace raycluster::detail {

// Python's to_camel_case as Ray's dashboard applies it to every dict key of
// the report: "object_store_memory" -> "objectStoreMemory".
std::string ray_camel_case(std::string_view snake);

// Counts in the report above this are taken as this (demands stay aggregated).
inline constexpr std::int64_t kMaxReportCount = std::int64_t{1} << 40;
// Placement groups are expanded bundle by bundle; a report asking for more
// bundles than this in total is refused (ok = false, error names the limit).
inline constexpr std::int64_t kMaxPlacementGroupBundles = 100000;

// Parses the JSON body of GET /api/cluster_status?format=0 (Ray 2.x,
// autoscaler v1 report: data.clusterStatus.loadMetricsReport). Resource names
// the dashboard camel-cased (per-node usage) are mapped back through the names
// seen un-mangled in the report (nodeTypes, demands) and `known_names`.
// Missing or malformed parts are skipped; a missing report gives ok = false.
// Throws nothing.
ClusterLoad parse_cluster_status(std::string_view json,
                                 const std::vector<std::string>& known_names = {});

}  // namespace raycluster::detail
