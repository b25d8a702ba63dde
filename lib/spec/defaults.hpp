// Ray's defaults, per provider, as raycluster applies them.
#pragma once

#include <string>
#include <vector>

#include "spec/spec.hpp"

namespace raycluster::detail {

inline constexpr const char* kLegacyHeadType = "ray.head.default";
inline constexpr const char* kLegacyWorkerType = "ray.worker.default";
// Ray's names for the two types of a legacy (head_node/worker_nodes) config.
inline constexpr const char* kRayLegacyHeadType = "ray-legacy-head-node-type";
inline constexpr const char* kRayLegacyWorkerType = "ray-legacy-worker-node-type";
// The head type of Ray's GCP defaults (defaults.yaml), and its worker type.
inline constexpr const char* kGcpDefaultHeadType = "ray_head_default";
inline constexpr const char* kGcpDefaultWorkerType = "ray_worker_small";
inline constexpr const char* kOnpremNodeType = "local.cluster.node";

inline constexpr const char* kAwsDefaultInstanceType = "m5.large";
inline constexpr const char* kGcpDefaultMachineType = "n1-standard-2";
inline constexpr const char* kGcpDefaultImage =
    "projects/deeplearning-platform-release/global/images/family/common-cpu";
inline constexpr int kGcpDefaultDiskGb = 50;

std::vector<std::string> default_head_start_commands(ProviderKind kind);
std::vector<std::string> default_worker_start_commands(ProviderKind kind);
std::vector<std::string> default_setup_commands(ProviderKind kind);

// The provider-native node_config of the default node type on a cloud
// (an empty object for localhost and on-prem).
Value default_node_config(ProviderKind kind);
// The GCP boot disk entry Ray's examples use.
Value gcp_boot_disk(const std::string& source_image, int size_gb);

}  // namespace raycluster::detail
