#include "providers/aws/instance_types.hpp"

#include <cctype>
#include <cmath>

namespace raycluster::detail::ec2 {
namespace {

// Ray's AWS_NEURON_INSTANCE_MAP (ray/_private/accelerators/neuron.py):
// DescribeInstanceTypes does not say how many NeuronCores a type has.
const std::map<std::string, int> kNeuronCores = {
    {"trn1.2xlarge", 2},  {"trn1.32xlarge", 32}, {"trn1n.32xlarge", 32}, {"inf2.xlarge", 2},
    {"inf2.8xlarge", 2},  {"inf2.24xlarge", 12}, {"inf2.48xlarge", 24},
};

// Ray's DEFAULT_OBJECT_STORE_MEMORY_PROPORTION.
constexpr double kObjectStoreShare = 0.3;

}  // namespace

std::map<std::string, double> ray_resources_of(const InstanceTypeInfo& info, bool head) {
  std::map<std::string, double> out;
  out["CPU"] = info.vcpus;
  if (!head) {
    // int(bytes * (1 - 0.3)), as Ray writes it.
    double bytes = static_cast<double>(info.memory_mib) * 1024.0 * 1024.0;
    out["memory"] = std::floor(bytes * (1 - kObjectStoreShare));
  }
  if (info.gpu_count > 0) {
    out["GPU"] = info.gpu_count;
    if (!info.gpu_name.empty()) out["accelerator_type:" + info.gpu_name] = 1;
  }
  std::string lower = info.name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto it = kNeuronCores.find(lower); it != kNeuronCores.end()) {
    out["neuron_cores"] = it->second;
    out["accelerator_type:aws-neuron-core"] = 1;
  }
  return out;
}

Value instance_type_value(const InstanceTypeInfo& info) {
  Value v = Value::object();
  v.set("vcpus", info.vcpus);
  v.set("memory_mib", static_cast<std::int64_t>(info.memory_mib));
  v.set("gpu_name", info.gpu_name);
  v.set("gpu_count", info.gpu_count);
  return v;
}

std::optional<InstanceTypeInfo> instance_type_from(const std::string& name, const Value& v) {
  if (!v.is_object()) return std::nullopt;
  const Value* vcpus = v.find("vcpus");
  const Value* memory = v.find("memory_mib");
  const Value* gpu_name = v.find("gpu_name");
  const Value* gpu_count = v.find("gpu_count");
  if (!vcpus || !memory || !gpu_name || !gpu_count || !vcpus->is_number() ||
      !memory->is_number() || !gpu_name->is_string() || !gpu_count->is_number())
    return std::nullopt;
  InstanceTypeInfo info;
  info.name = name;
  info.vcpus = static_cast<int>(vcpus->as_number());
  info.memory_mib = static_cast<long long>(memory->as_number());
  info.gpu_name = gpu_name->as_string();
  info.gpu_count = static_cast<int>(gpu_count->as_number());
  return info;
}

}  // namespace raycluster::detail::ec2
