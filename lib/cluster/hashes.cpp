#include "cluster/hashes.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "updater/rsync_rules.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace raycluster::detail {
namespace {

namespace fs = std::filesystem;

// Names inside a mount are hashed relative to it: the head's copy of a
// mount (what its autoscaler sets workers up from) hashes as the original.
void hash_path(const std::string& path, const std::string& name, std::string& acc) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    acc += "missing:" + name + "\n";
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    auto names = list_dir(path);
    std::sort(names.begin(), names.end());
    acc += "dir:" + name + ":" + std::to_string(st.st_mode & 07777) + "\n";
    for (const auto& n : names) hash_path(path + "/" + n, name + "/" + n, acc);
    return;
  }
  acc += "file:" + name + ":" + std::to_string(st.st_mode & 07777) + ":" +
         sha256_hex(read_file(path)) + "\n";
}

// A folder's own line of hash_path().
void hash_path_entry(const std::string& path, const std::string& name, std::string& acc) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    acc += "missing:" + name + "\n";
    return;
  }
  acc += "dir:" + name + ":" + std::to_string(st.st_mode & 07777) + "\n";
}

// What the rsync rules keep of a folder, as hash_path() hashes a folder.
void hash_kept(const std::string& path, const RsyncRules& rules, std::string& acc) {
  if (!is_directory(path)) {
    if (rules.keeps_file(path.substr(path.rfind('/') + 1))) hash_path(path, ".", acc);
    return;
  }
  hash_path_entry(path, ".", acc);
  for (const auto& rel : rules.kept(path)) {
    if (rel.back() == '/')
      hash_path_entry(path + "/" + rel.substr(0, rel.size() - 1), "./" + rel.substr(0, rel.size() - 1), acc);
    else
      hash_path(path + "/" + rel, "./" + rel, acc);
  }
}

}  // namespace

const std::vector<std::string>& setup_commands_for(const ClusterSpec& spec,
                                                   const NodeTypeSpec& type, NodeKind kind) {
  if (kind == NodeKind::head) return spec.head_setup_commands;
  if (type.worker_setup_commands) return *type.worker_setup_commands;
  return spec.worker_setup_commands;
}

const std::vector<std::string>& start_commands_for(const ClusterSpec& spec, NodeKind kind) {
  return kind == NodeKind::head ? spec.head_start_ray_commands : spec.worker_start_ray_commands;
}

std::string launch_hash(const ClusterSpec& spec, const NodeTypeSpec& type, NodeKind kind) {
  Value v = Value::object();
  v.set("provider", provider_kind_name(spec.provider.kind));
  v.set("kind", node_kind_name(kind));
  v.set("node_config", type.node_config);
  Value auth = Value::object();
  auth.set("ssh_user", spec.auth.ssh_user);
  // The key itself, not its path (as Ray hashes it): the autoscaler on the
  // head reads the same key from another path, and must see the same hash.
  std::string key = spec.auth.ssh_private_key;
  if (!key.empty()) {
    try {
      key = "sha256:" + sha256_hex(read_file(key, 1 << 20));
    } catch (const Error&) {
      // Unreadable here: the path stands for it (setup will say what is wrong).
    }
  }
  auth.set("ssh_private_key", key);
  v.set("auth", auth);
  return sha256_hex(v.to_json());
}

std::string file_mounts_hash(const ClusterSpec& spec) {
  // Only what is copied counts: the head's filtered copy of a mount hashes
  // as the original.
  const RsyncRules rules(spec.rsync_exclude, spec.rsync_filter);
  std::string acc;
  for (const auto& [remote, local] : spec.file_mounts) {
    acc += "mount:" + remote + "\n";
    if (rules.empty())
      hash_path(local, ".", acc);
    else
      hash_kept(local, rules, acc);
  }
  return sha256_hex(acc);
}

std::string runtime_hash(const ClusterSpec& spec, const NodeTypeSpec& type, NodeKind kind) {
  Value v = Value::object();
  if (spec.file_mounts_sync_continuously) {
    // Their contents are the file_mounts_contents tag's: a change copies the
    // files again and runs nothing. Where they are on the node is still the
    // setup's (the head's autoscaler reads them from other local paths).
    Value mounts = Value::array();
    for (const auto& [remote, local] : spec.file_mounts) mounts.push(remote);
    v.set("file_mounts", mounts);
  } else {
    v.set("file_mounts", file_mounts_hash(spec));
  }
  v.set("initialization_commands", Value::strings(spec.initialization_commands));
  v.set("setup_commands", Value::strings(spec.setup_commands));
  v.set("node_setup_commands", Value::strings(setup_commands_for(spec, type, kind)));
  if (type.initialization_commands && kind == NodeKind::worker)
    v.set("node_initialization_commands", Value::strings(*type.initialization_commands));
  v.set("start_commands", Value::strings(start_commands_for(spec, kind)));
  Value res = Value::object();
  for (const auto& [k, n] : type.resources) res.set(k, n);
  v.set("resources", res);
  Value labels = Value::object();
  for (const auto& [k, s] : type.labels) labels.set(k, s);
  v.set("labels", labels);
  const auto* docker = type.docker ? &*type.docker : (spec.docker ? &*spec.docker : nullptr);
  if (docker) {
    Value d = Value::object();
    d.set("image", docker->image);
    d.set("head_image", docker->head_image);
    d.set("worker_image", docker->worker_image);
    d.set("container_name", docker->container_name);
    d.set("run_options", Value::strings(docker->run_options));
    d.set("node_run_options", Value::strings(kind == NodeKind::head ? docker->head_run_options
                                                              : docker->worker_run_options));
    d.set("use_podman", docker->use_podman);
    v.set("docker", d);
  }
  return sha256_hex(v.to_json());
}

}  // namespace raycluster::detail
