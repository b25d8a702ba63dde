// The resources of a GCE machine type, from Compute's machineTypes.get, in
// the form Ray's node provider gives an EC2 instance type (Ray's own GCP
// provider fills only TPU head markers and learns a machine's resources
// once a node of it runs; filling them up front lets a type that never ran
// take demand):
//   CPU      guestCpus
//   memory   workers only: 70% of memoryMb in bytes (the rest is Ray's
//            default object store share), as int(bytes * 0.7)
//   GPU      the machine type's own accelerators (a2-, g2-, a3-...) plus the
//            node_config's guestAccelerators (N1 with attached GPUs)
//   accelerator_type:<T>  1, for the first GPU kind, named as Ray's NVIDIA
//            accelerator manager names the card it finds on such a node
//            (nvidia-tesla-t4 -> T4, nvidia-a100-80gb -> A100,
//            nvidia-rtx-pro-6000 -> RTX-PRO-6000)
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/value.hpp"

namespace raycluster::detail::gce {

struct MachineTypeInfo {
  std::string name;
  int guest_cpus = 0;
  long long memory_mb = 0;
  std::vector<std::pair<std::string, int>> accelerators;  // (acceleratorType, count)
};

// A machineTypes.get answer (nullopt when it lacks guestCpus or memoryMb, or
// their types are wrong).
std::optional<MachineTypeInfo> parse_machine_type(const Value& answer);

// Ray's accelerator_type name of a Compute accelerator type ("" when none
// can be made of it).
std::string ray_accelerator_name(const std::string& compute_type);

// The node_config's guestAccelerators as (bare acceleratorType, count).
// Throws Error(invalid_request) naming the entry when one is malformed.
std::vector<std::pair<std::string, int>> guest_accelerators(const Value& node_config);

std::map<std::string, double> ray_resources_of(const MachineTypeInfo& info,
                                               const std::vector<std::pair<std::string, int>>& attached,
                                               bool head);

// The cache file's form of an answer, and back (nullopt when malformed).
Value machine_type_value(const MachineTypeInfo& info);
std::optional<MachineTypeInfo> machine_type_from(const std::string& name, const Value& v);

}  // namespace raycluster::detail::gce
