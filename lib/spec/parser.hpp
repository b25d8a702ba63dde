// The parser behind parse_spec(): one instance per load, collecting
// diagnostics in its SpecReader. Internal to lib/spec.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "spec/spec.hpp"
#include "spec/reader.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {


using Strings = std::vector<std::string>;

inline const Strings kCommonKeys = {
    "cluster_name",          "max_workers",
    "upscaling_speed",       "idle_timeout_minutes",
    "docker",                "file_mounts",
    "cluster_synced_files",  "file_mounts_sync_continuously",
    "rsync_exclude",         "rsync_filter",
    "initialization_commands", "setup_commands",
    "head_setup_commands",   "worker_setup_commands",
    "head_start_ray_commands", "worker_start_ray_commands",
    // raycluster's own (see ClusterSpec::idle_release_after_startups)
    "idle_release_after_startups",
    // raycluster's own (see ClusterSpec::launch_payback)
    "launch_payback",
    // raycluster's own (see ClusterSpec::autoscaler)
    "autoscaler",
    // raycluster's own (see ClusterSpec::storage)
    "storage",
};
// "metadata" and a top-level "min_workers" are in Ray's schema (or dropped by
// Ray's fillout_defaults); they are accepted with a warning.
inline const Strings kRayKeys = {"provider", "auth", "available_node_types", "head_node_type",
                          "target_utilization_fraction", "autoscaling_mode",
                          "worker_default_node_type", "no_restart", "head_node", "worker_nodes",
                          "metadata", "min_workers"};
inline const Strings kLegacyKeys = {"provider",        "auth",           "head_node",
                             "worker_nodes",    "min_workers",    "initial_workers",
                             "target_utilization_fraction", "autoscaling_mode", "no_restart",
                             "metadata"};
inline const Strings kFlatAwsKeys = {"image_id", "tags", "security_group_ids", "subnet_id", "key_name"};
inline const Strings kFlatGcpKeys = {"image",   "labels",     "gcp_service_account_key", "project_id",
                              "network", "subnetwork", "firewall_rules"};
inline const Strings kFlatKeys = {"provider", "region",   "zone",           "instance_type",
                           "ssh_private_key",      "ssh_user",       "initial_workers",
                           "min_workers",          "upscaling_max_idle_time",
                           "disk_size_gb"};

inline const Strings kProviderCommon = {"type",
                                 "region",
                                 "availability_zone",
                                 "use_internal_ips",
                                 "cache_stopped_nodes",
                                 "disable_node_updaters",
                                 "disable_launch_config_check",
                                 "endpoint_url",
                                 "foreground_node_launch",
                                 "worker_liveness_check",
                                 "use_node_id_as_ip",
                                 "ssh_allowed_cidrs"};
inline const Strings kProviderAws = {"security_group", "key_pair", "security_group_ids", "subnet_id"};
inline const Strings kProviderGcp = {"project_id", "network", "subnetwork", "firewall_rules",
                              "service_account_key", "gcp_credentials"};
inline const Strings kProviderOnprem = {"head_ip", "worker_ips", "coordinator_address",
                                 "external_head_ip", "stop_commands"};
// Provider keys of Ray's schema (and Ray's AWS provider) that no provider
// here acts on: accepted with a warning naming them.
inline const Strings kProviderRayOnly = {"module",
                                  "namespace",
                                  "location",
                                  "resource_group",
                                  "tags",
                                  "subscription_id",
                                  "msi_identity_id",
                                  "msi_identity_principal_id",
                                  "autoscaler_service_account",
                                  "autoscaler_role",
                                  "autoscaler_role_binding",
                                  "cloudwatch",
                                  "aws_credentials"};
inline const Strings kAuthKeys = {"ssh_user", "ssh_private_key", "ssh_public_key", "ssh_proxy_command",
                           "ssh_port", "ssh_proxy_use_node_id"};
inline const Strings kDockerKeys = {"image",
                             "head_image",
                             "worker_image",
                             "container_name",
                             "pull_before_run",
                             "run_options",
                             "head_run_options",
                             "worker_run_options",
                             "disable_automatic_runtime_detection",
                             "disable_shm_size_detection",
                             "use_podman"};
inline const Strings kNodeTypeKeys = {"node_config",           "resources", "labels",
                               "min_workers",           "max_workers", "initial_workers",
                               "worker_setup_commands", "docker",      "idle_timeout_minutes",
                               "idle_timeout_s", "initialization_commands", "priority",
                               // raycluster's own (see NodeTypeSpec::startup_seconds)
                               "startup_seconds"};
inline const Strings kVolumeKeys = {"size_gb", "type", "mount_path", "node_types"};
inline const Strings kFirewallKeys = {"name", "ports", "allowed_sources"};
inline const Strings kProviderTypes = {"aws", "gcp", "localhost", "fake_multinode", "local"};

inline Strings concat(std::initializer_list<const Strings*> lists) {
  Strings out;
  for (const Strings* l : lists) out.insert(out.end(), l->begin(), l->end());
  return out;
}

inline bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

// Extra facts about a node type needed after parsing.
struct TypeMeta {
  YAML::Node node;
  std::string path;
  bool max_given = false;
  bool initial_given = false;
  bool resources_given = false;
};

class Parser {
 public:
  Parser(const std::string& name, std::string base_dir, std::string home)
      : r_(name), base_dir_(std::move(base_dir)), home_(std::move(home)) {}

  ClusterSpec run(const YAML::Node& root);
  SpecReader& reader() { return r_; }

 private:
  // parse.cpp: Ray's schema and its legacy form; flat.cpp: the flat
  // dialect; normalise.cpp: defaults and cross-field checks.
  YAML::Node top(const char* key) const { return root_[key]; }
  std::string expand(const std::string& p) const { return expand_user(p, home_); }

  void parse_common();
  void parse_commands();
  void parse_autoscaler_site(const YAML::Node& n);
  std::optional<DockerSpec> parse_docker(const YAML::Node& n, const std::string& path);
  void parse_provider(const YAML::Node& n);
  void parse_auth(const YAML::Node& n);
  void parse_node_types(const YAML::Node& n);
  void parse_legacy_types();
  void parse_flat();
  bool parse_flat_provider();
  std::string flat_str(const char* key);
  Value parse_flat_aws(const std::string& instance_type);
  Value parse_flat_gcp(const std::string& instance_type);
  void parse_flat_idle_alias();
  void apply_flat_disk_size(Value& node_config);
  // storage.cpp: the `storage:` section.
  void parse_storage(const YAML::Node& n);
  void parse_volume(const YAML::Node& v, const std::string& name, const std::string& path);
  void validate_storage();
  void flat_node_types(const Value& node_config);
  std::vector<FirewallRule> parse_firewall(const YAML::Node& n, const std::string& path);
  void parse_autoscaling_legacy();
  void default_node_types();
  void fill_defaults();
  void fill_provider_from_node_configs();
  void validate();
  // Ray's keys that do nothing here: a warning naming the key and why.
  void warn_no_effect(const std::string& path, const YAML::Node& at, const std::string& why,
                      const std::string& hint = {});
  void warn_provider_keys(const YAML::Node& n);
  void warn_ray_only_keys();
  void take_default_head_type();
  void require(bool ok, const std::string& key, const std::string& message,
               const std::string& hint);

  SpecReader r_;
  std::string base_dir_;
  std::string home_;
  YAML::Node root_;
  ClusterSpec s_;
  std::vector<TypeMeta> meta_;
  bool max_workers_given_ = false;
  bool provider_ok_ = false;
  std::map<std::string, bool> command_given_;
};

}  // namespace raycluster::detail
