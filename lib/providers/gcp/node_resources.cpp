// What a node type's machine has, from Compute's machineTypes.get.
#include "providers/common/answer_cache.hpp"
#include "providers/gcp/gcp_provider.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::gce {

MachineTypeInfo GcpProvider::machine_type_info(const std::string& type, const CancelToken& cancel) {
  std::lock_guard<std::mutex> lock(types_mu_);
  if (auto it = machine_types_.find(type); it != machine_types_.end()) return it->second;
  const std::string path = identity_.state_dir + "/machine_types.json";
  for (const auto& zone : zones_) {
    const std::string key = client_->project() + "/" + zone + "/" + type;
    if (auto v = cached_answer(path, key))
      if (auto info = machine_type_from(type, *v)) return machine_types_[type] = *info;
  }
  // Machine types are the same in every zone that has them: the first zone
  // that knows the type answers for all.
  for (const auto& zone : zones_) {
    Value answer;
    try {
      answer = client_->call("GET", "zones/" + zone + "/machineTypes/" + query_encode(type), nullptr,
                             cancel);
    } catch (const GceError& e) {
      if (e.status() == 404) continue;
      throw;
    }
    auto info = parse_machine_type(answer);
    if (!info)
      throw Error(ErrorCode::internal, "Compute's machineTypes.get answer for " + type + " in " +
                                           zone + " has no guestCpus or memoryMb");
    info->name = type;
    store_answer(path, client_->project() + "/" + zone + "/" + type, machine_type_value(*info));
    return machine_types_[type] = *info;
  }
  throw Error(ErrorCode::invalid_request, "machine type " + type + " is not available in zone(s) " +
                                              join(zones_, ",") + " of project " + client_->project());
}

std::map<std::string, double> GcpProvider::node_type_resources(const NodeTypeSpec& type, bool head,
                                                               const CancelToken& cancel) {
  const Value* mt = type.node_config.is_object() ? type.node_config.find("machineType") : nullptr;
  if (!mt || !mt->is_string() || mt->as_string().empty()) return {};
  const std::string& text = mt->as_string();
  const std::string name = text.substr(text.rfind('/') + 1);
  std::vector<std::pair<std::string, int>> attached;
  try {
    attached = guest_accelerators(type.node_config);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_request, "node type " + type.name + ": " + e.what());
  }
  return ray_resources_of(machine_type_info(name, cancel), attached, head);
}

}  // namespace raycluster::detail::gce
