#include "cluster/worker_targets.hpp"

#include <unistd.h>

#include <algorithm>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/value.hpp"

namespace raycluster::detail {

std::map<std::string, int> read_worker_targets(const std::string& state_dir) {
  const std::string path = state_dir + "/" + kWorkerTargetsFile;
  std::map<std::string, int> out;
  if (!path_exists(path)) return out;
  Value v;
  try {
    v = Value::parse_json(read_file(path, 64 << 10));
  } catch (const Error& e) {
    throw Error(ErrorCode::config, path + ": " + e.what());
  }
  if (!v.is_object()) throw Error(ErrorCode::config, path + ": expected a JSON object {\"type\": N}");
  for (const auto& [type, n] : v.as_object()) {
    if (!n.is_integer() || n.as_int() < 0 || n.as_int() > 1000000)
      throw Error(ErrorCode::config, path + ": " + type + ": expected a whole number of workers");
    out[type] = static_cast<int>(n.as_int());
  }
  return out;
}

void write_worker_target(const std::string& state_dir, const std::string& node_type, int workers) {
  FileLock lock(state_dir + "/worker_targets.lock", true);
  auto targets = read_worker_targets(state_dir);
  targets[node_type] = workers;
  Value v = Value::object();
  for (const auto& [t, n] : targets) v.set(t, n);
  write_file_atomic(state_dir + "/" + kWorkerTargetsFile, v.to_json(2) + "\n", 0600);
}

void clear_worker_targets(const std::string& state_dir) {
  ::unlink((state_dir + "/" + kWorkerTargetsFile).c_str());
}

ClusterSpec with_worker_targets(ClusterSpec spec, const std::map<std::string, int>& targets) {
  for (auto& t : spec.node_types) {
    auto it = targets.find(t.name);
    if (it != targets.end()) t.min_workers = std::clamp(it->second, t.min_workers, t.max_workers);
  }
  return spec;
}

}  // namespace raycluster::detail
