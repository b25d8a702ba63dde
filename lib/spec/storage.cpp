// The `storage:` section: named volumes that outlive the cluster's nodes.
#include <algorithm>
#include <set>

#include "spec/parser.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

namespace {

const Strings kAwsVolumeTypes = {"gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"};
const Strings kGcpVolumeTypes = {"pd-balanced", "pd-ssd", "pd-standard", "pd-extreme"};
constexpr int kMaxVolumes = 16;
constexpr int kMaxVolumeGb = 65536;

bool valid_volume_name(const std::string& n) {
  if (n.empty() || n.size() > 40 || !(n[0] >= 'a' && n[0] <= 'z') || n.back() == '-') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Mount paths go into shell commands and /etc/fstab: plain path characters only.
bool valid_mount_path(const std::string& p) {
  bool rooted = p.starts_with("/") || p.starts_with("~/");
  if (!rooted || p == "/" || p == "~/" || p.size() > 200) return false;
  if (p.find("/../") != std::string::npos || p.ends_with("/..")) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '/' || c == '.' || c == '_' || c == '-' || c == '~';
  });
}

}  // namespace

void Parser::parse_storage(const YAML::Node& n) {
  if (!n.IsMap()) {
    r_.error(n, "storage", "expected a mapping of volume names to volumes",
             "write e.g. 'storage: {data: {size_gb: 100, mount_path: /data}}'");
    return;
  }
  if (static_cast<int>(n.size()) > kMaxVolumes) {
    r_.error(n, "storage", "more than " + std::to_string(kMaxVolumes) + " volumes",
             "a node mounts at most " + std::to_string(kMaxVolumes) + " volumes here");
    return;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string path = "storage." + name;
    if (!valid_volume_name(name)) {
      r_.error(r_.where(path, it->first), path, "volume name '" + name + "' is not usable",
               "use 1 to 40 of a-z, 0-9 and '-', starting with a letter (it names the disk)");
      continue;
    }
    parse_volume(it->second, name, path);
  }
}

void Parser::parse_volume(const YAML::Node& v, const std::string& name, const std::string& path) {
  if (!r_.expect_map(v, path)) return;
  r_.check_keys(v, path, kVolumeKeys);
  VolumeSpec vol;
  vol.name = name;
  if (YAML::Node x = v["size_gb"]; present(x))
    if (auto gb = r_.count(x, path + ".size_gb")) {
      if (*gb < 1 || *gb > kMaxVolumeGb)
        r_.error(x, path + ".size_gb", std::to_string(*gb) + " GiB is out of range",
                 "give a whole number of GiB from 1 to " + std::to_string(kMaxVolumeGb));
      else
        vol.size_gb = *gb;
    }
  if (YAML::Node x = v["type"]; present(x))
    if (auto t = r_.str(x, path + ".type")) vol.type = *t;
  if (YAML::Node x = v["mount_path"]; present(x)) {
    if (auto m = r_.str(x, path + ".mount_path")) {
      if (valid_mount_path(*m))
        vol.mount_path = *m;
      else
        r_.error(x, path + ".mount_path", "mount path '" + *m + "' is not usable",
                 "give an absolute path (or ~/...) other than '/', of letters, digits and "
                 "'/._-~'");
    }
  } else {
    r_.error(r_.where(path, v), path + ".mount_path", "volume " + name + " has no mount_path",
             "add e.g. 'mount_path: /data'");
  }
  if (YAML::Node x = v["node_types"]; present(x)) {
    if (x.IsScalar())
      vol.node_types = {x.Scalar()};
    else if (auto l = r_.str_list(x, path + ".node_types"))
      vol.node_types = *l;
  }
  s_.storage.push_back(std::move(vol));
}

// After the node types and the provider are known.
void Parser::validate_storage() {
  const ProviderKind kind = s_.provider.kind;
  const bool cloud = kind == ProviderKind::aws || kind == ProviderKind::gcp;
  Strings names;
  for (const auto& t : s_.node_types) names.push_back(t.name);
  std::set<std::string> mount_paths;
  for (auto& vol : s_.storage) {
    const std::string path = "storage." + vol.name;
    auto at = [&](const std::string& key) { return r_.where(join_path(path, key), root_); };
    if (!vol.mount_path.empty() && !mount_paths.insert(vol.mount_path).second)
      r_.error(at("mount_path"), path + ".mount_path",
               "another volume is mounted at " + vol.mount_path, "give each volume its own path");
    if (cloud) {
      const Strings& types = kind == ProviderKind::aws ? kAwsVolumeTypes : kGcpVolumeTypes;
      if (vol.type.empty()) vol.type = kind == ProviderKind::aws ? kDefaultVolumeTypeAws
                                                                 : kDefaultVolumeTypeGcp;
      else if (std::find(types.begin(), types.end(), vol.type) == types.end()) {
        auto m = closest_match(vol.type, types);
        r_.error(at("type"), path + ".type",
                 "'" + vol.type + "' is not a " +
                     (kind == ProviderKind::aws ? "EBS volume" : "persistent disk") + " type",
                 m ? "did you mean '" + *m + "'?" : "use one of: " + join(types, ", "));
      }
      if (vol.size_gb == 0 && !present(root_["storage"][vol.name]["size_gb"]))
        r_.error(r_.where(path, root_), path + ".size_gb", "volume " + vol.name + " has no size_gb",
                 "add e.g. 'size_gb: 100' (GiB)");
    } else {
      if (!vol.type.empty())
        r_.warn(at("type"), path + ".type",
                std::string("has no effect: on the ") + provider_kind_name(kind) +
                    " provider a volume is a folder");
      if (vol.size_gb > 0)
        r_.warn(at("size_gb"), path + ".size_gb",
                std::string("has no effect: on the ") + provider_kind_name(kind) +
                    " provider a volume is a folder");
    }
    if (vol.node_types.empty() && !s_.head_node_type.empty())
      vol.node_types = {s_.head_node_type};
    for (const auto& tn : vol.node_types) {
      const NodeTypeSpec* t = s_.find_node_type(tn);
      if (!t) {
        auto m = closest_match(tn, names);
        r_.error(at("node_types"), path + ".node_types",
                 "volume " + vol.name + " names node type '" + tn + "', which the config lacks",
                 m ? "did you mean '" + *m + "'?" : "use one of: " + join(names, ", "));
        continue;
      }
      // The head type means the head itself (one node); a worker type may
      // have up to max_workers nodes, and a disk attaches to one of them.
      if (kind == ProviderKind::localhost || tn == s_.head_node_type) continue;
      if (kind == ProviderKind::onprem) {
        r_.error(at("node_types"), path + ".node_types",
                 "volume " + vol.name + " names node type " + tn +
                     ", but on-prem volumes are folders on the head machine",
                 "leave out node_types (the head)");
        continue;
      }
      if (t->max_workers <= 1) continue;
      const std::string what = kind == ProviderKind::aws ? "an EBS volume attaches to one instance"
                                                         : "a persistent disk attaches read-write "
                                                           "to one instance";
      r_.error(at("node_types"), path + ".node_types",
               "volume " + vol.name + " names node type " + tn + ", which may have up to " +
                   std::to_string(t->max_workers) + " nodes, but " + what,
               "mount it on the head (leave out node_types), or set " + tn +
                   "'s max_workers to 1");
    }
  }
}

}  // namespace raycluster::detail
