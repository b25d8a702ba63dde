// Ray's resources of an EC2 instance type, as its AWS node provider's
// fillout_available_node_types_resources computes them from
// DescribeInstanceTypes: CPU (default vCPUs); GPU and accelerator_type:<name>
// (its first GPU kind); neuron_cores and accelerator_type:aws-neuron-core
// (Ray's table of Trainium/Inferentia types); and, for workers only,
// memory = 70% of the instance's memory in bytes (the rest is Ray's default
// object store share).
#pragma once

#include <map>
#include <string>

#include <optional>

#include "providers/aws/ec2_xml.hpp"
#include "util/value.hpp"

namespace raycluster::detail::ec2 {

std::map<std::string, double> ray_resources_of(const InstanceTypeInfo& info, bool head);

// The cache file's form of an answer, and back (nullopt when malformed).
Value instance_type_value(const InstanceTypeInfo& info);
std::optional<InstanceTypeInfo> instance_type_from(const std::string& name, const Value& v);

}  // namespace raycluster::detail::ec2
