#include "providers/gcp/machine_types.hpp"

#include <cctype>
#include <cmath>

#include "util/error.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::gce {
namespace {

// Ray's DEFAULT_OBJECT_STORE_MEMORY_PROPORTION.
constexpr double kObjectStoreShare = 0.3;
// Bounds on what an answer or a config may list.
constexpr std::size_t kMaxAccelerators = 16;
constexpr int kMaxAcceleratorCount = 1024;

std::string bare(const std::string& s) { return s.substr(s.rfind('/') + 1); }

std::optional<std::pair<std::string, int>> accelerator_of(const Value& v, const char* type_key,
                                                          const char* count_key) {
  if (!v.is_object()) return std::nullopt;
  const Value* t = v.find(type_key);
  const Value* n = v.find(count_key);
  if (!t || !t->is_string() || t->as_string().empty()) return std::nullopt;
  int count = 1;  // Compute's default acceleratorCount
  if (n) {
    if (!n->is_number()) return std::nullopt;
    double d = n->as_number();
    if (d < 0 || d > kMaxAcceleratorCount || d != std::floor(d)) return std::nullopt;
    count = static_cast<int>(d);
  }
  return std::make_pair(bare(t->as_string()), count);
}

std::optional<std::vector<std::pair<std::string, int>>> accelerators_in(const Value* list,
                                                                        const char* type_key,
                                                                        const char* count_key) {
  std::vector<std::pair<std::string, int>> out;
  if (!list) return out;
  if (!list->is_array() || list->size() > kMaxAccelerators) return std::nullopt;
  for (const auto& a : list->as_array()) {
    auto one = accelerator_of(a, type_key, count_key);
    if (!one) return std::nullopt;
    out.push_back(*one);
  }
  return out;
}

}  // namespace

std::optional<MachineTypeInfo> parse_machine_type(const Value& answer) {
  if (!answer.is_object()) return std::nullopt;
  const Value* name = answer.find("name");
  const Value* cpus = answer.find("guestCpus");
  const Value* memory = answer.find("memoryMb");
  if (!name || !name->is_string() || !cpus || !cpus->is_number() || !memory || !memory->is_number())
    return std::nullopt;
  if (cpus->as_number() < 0 || memory->as_number() < 0) return std::nullopt;
  auto accelerators =
      accelerators_in(answer.find("accelerators"), "guestAcceleratorType", "guestAcceleratorCount");
  if (!accelerators) return std::nullopt;
  MachineTypeInfo info;
  info.name = name->as_string();
  info.guest_cpus = static_cast<int>(cpus->as_number());
  info.memory_mb = static_cast<long long>(memory->as_number());
  info.accelerators = std::move(*accelerators);
  return info;
}

std::string ray_accelerator_name(const std::string& compute_type) {
  // Compute names NVIDIA cards nvidia-[tesla-]<model>[-<variant>...]; the
  // card itself says e.g. "NVIDIA A100-SXM4-80GB" or "Tesla T4", of which
  // Ray keeps the model: the words up to the first one with a digit.
  std::vector<std::string> words = split(compute_type, '-');
  std::size_t i = 0;
  if (i < words.size() && words[i] == "nvidia") ++i;
  if (i < words.size() && words[i] == "tesla") ++i;
  std::string out;
  for (; i < words.size(); ++i) {
    if (words[i].empty()) return "";
    out += (out.empty() ? "" : "-") + words[i];
    bool digit = false;
    for (char c : words[i]) digit = digit || std::isdigit(static_cast<unsigned char>(c));
    if (digit) break;
  }
  if (i == words.size()) return "";  // no model number: nothing Ray would report
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::pair<std::string, int>> guest_accelerators(const Value& node_config) {
  const Value* list = node_config.is_object() ? node_config.find("guestAccelerators") : nullptr;
  auto out = accelerators_in(list, "acceleratorType", "acceleratorCount");
  if (!out)
    throw Error(ErrorCode::invalid_request,
                "node_config.guestAccelerators: each entry needs an acceleratorType and a whole "
                "acceleratorCount (at most " + std::to_string(kMaxAccelerators) + " entries)");
  return *out;
}

std::map<std::string, double> ray_resources_of(const MachineTypeInfo& info,
                                               const std::vector<std::pair<std::string, int>>& attached,
                                               bool head) {
  std::map<std::string, double> out;
  out["CPU"] = info.guest_cpus;
  if (!head) {
    double bytes = static_cast<double>(info.memory_mb) * 1024.0 * 1024.0;
    out["memory"] = std::floor(bytes * (1 - kObjectStoreShare));
  }
  int gpus = 0;
  std::string first;
  auto add = [&](const std::vector<std::pair<std::string, int>>& list) {
    for (const auto& [type, count] : list) {
      if (count <= 0) continue;
      gpus += count;
      if (first.empty()) first = type;
    }
  };
  add(info.accelerators);
  add(attached);
  if (gpus > 0) {
    out["GPU"] = gpus;
    if (std::string name = ray_accelerator_name(first); !name.empty())
      out["accelerator_type:" + name] = 1;
  }
  return out;
}

Value machine_type_value(const MachineTypeInfo& info) {
  Value v = Value::object();
  v.set("guest_cpus", info.guest_cpus);
  v.set("memory_mb", static_cast<std::int64_t>(info.memory_mb));
  Value accelerators = Value::array();
  for (const auto& [type, count] : info.accelerators) {
    Value a = Value::object();
    a.set("type", type);
    a.set("count", count);
    accelerators.push(std::move(a));
  }
  v.set("accelerators", std::move(accelerators));
  return v;
}

std::optional<MachineTypeInfo> machine_type_from(const std::string& name, const Value& v) {
  if (!v.is_object()) return std::nullopt;
  const Value* cpus = v.find("guest_cpus");
  const Value* memory = v.find("memory_mb");
  if (!cpus || !cpus->is_number() || !memory || !memory->is_number()) return std::nullopt;
  auto accelerators = accelerators_in(v.find("accelerators"), "type", "count");
  if (!accelerators || !v.find("accelerators")) return std::nullopt;
  MachineTypeInfo info;
  info.name = name;
  info.guest_cpus = static_cast<int>(cpus->as_number());
  info.memory_mb = static_cast<long long>(memory->as_number());
  info.accelerators = std::move(*accelerators);
  return info;
}

}  // namespace raycluster::detail::gce
