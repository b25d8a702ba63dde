// raycluster: the cluster config, parsed, validated and normalised.
//
// load_spec_file() accepts three dialects and returns one ClusterSpec:
//   * Ray's current schema (available_node_types, head_node_type, ...),
//   * Ray's legacy schema (head_node, worker_nodes, min_workers,
//     initial_workers, target_utilization_fraction, autoscaling_mode),
//   * the flat dialect (provider: aws|gcp, region, instance_type, ...).
// Defaults are Ray's, per provider. Every problem in a file is reported at
// once in one ConfigError, each with file:line:column, key path and a hint.
//
// Thread-safety: a ClusterSpec is a plain value; loading is reentrant.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/value.hpp"

namespace raycluster {

// Where a value came from. line and column are 1-based; 0 means the value
// was not in the file (a default or a derived value).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

// One problem found in a config file.
struct Diagnostic {
  SourceLocation where;
  std::string key_path;  // e.g. "available_node_types.ray.worker.default.max_workers"
  std::string message;   // what is wrong
  std::string hint;      // how to fix it (may be empty)

  // "file:line:column: key_path: message (hint)"
  std::string to_string() const;
};

// Thrown by load_spec_*: every problem of the file, in file order.
class ConfigError : public Error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const noexcept { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

enum class Dialect { ray, ray_legacy, flat };

// The values of the top-level `autoscaler` key.
inline constexpr const char* kAutoscalerSites[] = {"head", "local", "off"};
const char* dialect_name(Dialect d) noexcept;  // "ray", "ray-legacy", "flat"

enum class ProviderKind {
  aws,
  gcp,
  localhost,  // processes on this machine ("localhost", alias "fake_multinode")
  onprem,     // Ray's "local": existing machines reached over SSH
};
const char* provider_kind_name(ProviderKind k) noexcept;

struct FirewallRule {
  std::string name;
  std::vector<std::string> ports;            // "22", "0-65535"
  std::vector<std::string> allowed_sources;  // CIDRs
};

struct ProviderSpec {
  ProviderKind kind = ProviderKind::localhost;
  std::string type;  // as written: "aws", "gcp", "localhost", "fake_multinode", "local"
  std::string region;
  std::string availability_zone;  // Ray: comma-separated list allowed
  std::string project_id;         // GCP
  bool use_internal_ips = false;
  bool cache_stopped_nodes = true;
  bool disable_node_updaters = false;
  bool disable_launch_config_check = false;
  std::string endpoint_url;  // AWS/GCP API endpoint override (tests, private endpoints)
  // AWS
  std::vector<std::string> security_group_ids;
  std::string subnet_id;
  std::string key_name;  // provider.key_pair.key_name or flat dialect's key name
  // GCP
  std::string service_account_key;  // path to the JSON key file
  std::string network;
  std::string subnetwork;
  std::vector<FirewallRule> firewall_rules;
  // On-prem ("local")
  std::string head_ip;
  std::vector<std::string> worker_ips;
  std::string coordinator_address;
  // Run on a machine when its node ends (`down`, scale-down): the machine
  // stays, Ray on it stops. Default ["ray stop"], as Ray's `ray down`; set it
  // when `ray` is not on the login PATH (a virtualenv, a container).
  std::vector<std::string> stop_commands;
  // SSH access (caller CIDRs allowed to reach port 22; empty = caller's address)
  std::vector<std::string> ssh_allowed_cidrs;
  // The provider mapping as written, for provider-specific keys.
  Value raw;
};

struct AuthSpec {
  std::string ssh_user;  // default per provider (ubuntu on clouds, $USER locally)
  std::string ssh_private_key;  // path, "~" expanded
  std::string ssh_public_key;   // path (GCP), "~" expanded
  std::string ssh_proxy_command;
  int ssh_port = 22;
};

struct DockerSpec {
  std::string image;
  std::string head_image;
  std::string worker_image;
  std::string container_name;
  bool pull_before_run = true;
  std::vector<std::string> run_options;
  std::vector<std::string> head_run_options;
  std::vector<std::string> worker_run_options;
  bool disable_automatic_runtime_detection = false;
  bool disable_shm_size_detection = false;
  bool use_podman = false;  // Ray's docker.use_podman: podman instead of docker
};

struct NodeTypeSpec {
  std::string name;
  Value node_config;  // provider-native: RunInstances parameters / Instance body
  std::map<std::string, double> resources;
  std::map<std::string, std::string> labels;
  int min_workers = 0;
  int max_workers = 0;
  // Workers of this type that `up` launches (legacy/flat initial_workers;
  // defaults to min_workers).
  int initial_workers = 0;
  std::optional<double> idle_timeout_minutes;  // overrides the cluster's
  std::optional<double> cost_per_hour;
  // raycluster's own: seconds from a launch until a node of this type can run
  // tasks (boot plus setup). Feeds the autoscaler's startup-aware rules; when
  // absent the reconcile loop learns it from the launches it watches.
  std::optional<double> startup_seconds;
  // Per-type overrides, as Ray's: a worker of this type runs these instead of
  // the cluster's (merged) worker setup / initialization commands.
  std::optional<std::vector<std::string>> worker_setup_commands;
  std::optional<std::vector<std::string>> initialization_commands;
  std::optional<DockerSpec> docker;
};

// A named volume of the top-level `storage:` section (raycluster's own): a
// disk (EBS volume, GCP persistent disk; a folder on localhost and on-prem)
// that outlives the nodes. `up` creates it once, attaches and mounts it
// (formatting it only when blank); `down` detaches and keeps it; only
// `down --delete-storage` deletes it.
struct VolumeSpec {
  std::string name;        // [a-z0-9-], 1..40 characters
  int size_gb = 0;         // GiB, clouds only
  std::string type;        // EBS volume type / GCP disk type; default kDefaultVolumeType*
  std::string mount_path;  // absolute, or ~/... (the node's home; localhost: the node's folder)
  // The node types that mount it; default the head type. On clouds and
  // on-prem each must have at most one node (the volume attaches to one).
  std::vector<std::string> node_types;
};

inline constexpr const char* kDefaultVolumeTypeAws = "gp3";
inline constexpr const char* kDefaultVolumeTypeGcp = "pd-balanced";

struct ClusterSpec {
  std::string source_file;  // as given; empty for load_spec_string without a name
  Dialect dialect = Dialect::ray;

  std::string cluster_name = "default";
  int max_workers = 2;  // cluster-wide, workers only
  double upscaling_speed = 1.0;
  double idle_timeout_minutes = 5.0;
  // raycluster's own: when > 0, the reconcile loop releases an idle worker
  // after min(idle timeout, this x its type's startup), when the startup is
  // known (PlannerPolicy::keep_idle_startups). 0 (default): Ray's plain idle
  // timeout.
  double idle_release_after_startups = 0;
  // raycluster's own: when > 0, the reconcile loop reads how long tasks of
  // each resource shape run (Ray's state API, monitor/task_durations.hpp)
  // and launches a node only for at least this x its type's startup of
  // queued work (PlannerPolicy::launch_payback). 0 (default): Ray's launches.
  double launch_payback = 0;
  // raycluster's own: where the autoscaler runs when a node type can scale.
  // "head" (default): `up` installs and supervises it on the head, as `ray up`
  // does Ray's; "local": only where `raycluster monitor` (or a host program)
  // runs; "off": nowhere. Values: kAutoscalerSites.
  std::string autoscaler = "head";

  ProviderSpec provider;
  AuthSpec auth;
  std::optional<DockerSpec> docker;

  std::vector<NodeTypeSpec> node_types;  // in file order; the head type included
  std::string head_node_type;

  // remote path -> local path
  std::map<std::string, std::string> file_mounts;
  std::vector<std::string> cluster_synced_files;
  bool file_mounts_sync_continuously = false;
  std::vector<std::string> rsync_exclude;
  std::vector<std::string> rsync_filter;

  std::vector<std::string> initialization_commands;
  std::vector<std::string> setup_commands;
  std::vector<std::string> head_setup_commands;
  std::vector<std::string> worker_setup_commands;
  std::vector<std::string> head_start_ray_commands;
  std::vector<std::string> worker_start_ray_commands;

  // Tags (AWS) / labels (GCP) put on every instance, besides Ray's own.
  std::map<std::string, std::string> tags;

  // The `storage:` section, in file order. Not part of any node's launch
  // hash: a volume added later is attached by the next `up` without
  // replacing a node.
  std::vector<VolumeSpec> storage;

  int gcs_port = 6379;
  int dashboard_port = 8265;

  // Where each key path came from (only keys present in the file).
  std::map<std::string, SourceLocation> origins;
  // Keys Ray accepts that have no effect here, each named with why (in file
  // order). A config with warnings is valid.
  std::vector<Diagnostic> warnings;

  const NodeTypeSpec* find_node_type(std::string_view name) const;
  const NodeTypeSpec& head_type() const;  // throws Error(internal) if absent
  // The location of a key path, or an empty location with the file name.
  SourceLocation origin(std::string_view key_path) const;
};

// The commands a node of `type` runs, as Ray resolves them: the head runs
// the cluster's initialization_commands, setup_commands + head_setup_commands
// and head_start_ray_commands; a worker runs its type's
// initialization_commands (else the cluster's), its type's
// worker_setup_commands (else setup_commands + worker_setup_commands; a
// type's own list replaces both) and worker_start_ray_commands.
struct NodeCommands {
  std::vector<std::string> initialization;
  std::vector<std::string> setup;
  std::vector<std::string> start;
};
NodeCommands node_commands(const ClusterSpec& spec, const NodeTypeSpec& type, bool head);

// A GCP node_config for a TPU VM (Ray's acceleratorType/acceleratorConfig
// in place of machineType).
bool is_gcp_tpu_node_config(const Value& node_config);

struct SpecOptions {
  // Files larger than this are refused before parsing (a config is small).
  std::size_t max_file_bytes = 16u << 20;
};

// Dialect: Ray's legacy schema when head_node/worker_nodes are present (and
// available_node_types is not); the flat dialect when `provider` is a plain
// string (aws|gcp); Ray's current schema otherwise.
//
// Normalisation, beyond Ray's defaults (max_workers 2, upscaling_speed 1,
// idle_timeout_minutes 5, ports 6379/8265):
//   * legacy: head_node/worker_nodes become node types
//     "ray-legacy-head-node-type" / "ray-legacy-worker-node-type", Ray's
//     names (a `resources` key in them is lifted out of
//     node_config); global min_workers/initial_workers go to the worker type;
//     upscaling_speed, unless given, is 99999 for autoscaling_mode aggressive,
//     else 1/f - 1 for target_utilization_fraction f (as Ray does).
//   * flat: the same two node types; instance_type/image_id/image/
//     security_group_ids/subnet_id/network/subnetwork go into each type's
//     node_config as a Ray config would write them (AWS InstanceType, ImageId,
//     KeyName, SecurityGroupIds, SubnetIds; GCP machineType, disks[0]
//     .initializeParams.sourceImage, networkInterfaces[0]) and into
//     ProviderSpec; the AWS key pair name is the ssh_private_key file name
//     without ".pem" unless key_name is given; tags/labels go to
//     ClusterSpec::tags; upscaling_max_idle_time is idle_timeout_minutes.
//   * Ray schema: KeyName, SecurityGroupIds, SubnetIds/SubnetId (AWS) and
//     networkInterfaces[0].network/subnetwork (GCP) of the head type's
//     node_config fill the matching empty ProviderSpec fields.
//   * Ray's keys with no effect here are accepted and listed in
//     ClusterSpec::warnings; YAML merge keys are resolved; a missing
//     head_node_type is Ray's default name when a type has it.
//   * no node types given: "ray.head.default" + "ray.worker.default" (GCP:
//     "ray_head_default" + "ray_worker_small", {CPU: 2} each) with the
//     provider's default node_config (AWS m5.large; GCP n1-standard-2 with
//     Ray's default image), {CPU: 1} each on localhost; on-prem one type
//     "local.cluster.node" with min = max = initial = number of worker_ips,
//     which is also the cluster's max_workers.
//   * a type's max_workers defaults to the cluster's (0 for the head type);
//     initial_workers defaults to min_workers.
//   * flat: disk_size_gb sets the root disk of both node types (AWS
//     BlockDeviceMappings on /dev/sda1, the root device of Ubuntu images, gp3;
//     GCP the boot disk's initializeParams.diskSizeGb).
//   * start commands default per provider (localhost: no `ray stop`, and the
//     $RAYCLUSTER_* variables the localhost provider exports); setup_commands
//     default to installing Ray on clouds, nothing elsewhere. A command list
//     present in the file, even empty, replaces the default.
//   * "~" expands in key and file paths; a relative file_mounts local path
//     resolves against the config file's folder (load_spec_file only).
//
// Throws ConfigError (all problems found) or Error(io) if unreadable.
// A file larger than options.max_file_bytes, empty, binary (NUL or invalid
// UTF-8) or nested deeper than 64 levels is a ConfigError, found before
// YAML parsing.
ClusterSpec load_spec_file(const std::string& path, const SpecOptions& options = {});
// `name` stands in for the file name in locations and messages.
ClusterSpec load_spec_string(std::string_view yaml_text, const std::string& name = "<string>",
                             const SpecOptions& options = {});

// The normalised spec as a JSON object. Key names are stable (tools parse
// them); keys are only ever added. Every key is always present:
//
//   { "source_file": str, "dialect": "ray"|"ray-legacy"|"flat",
//     "cluster_name": str, "max_workers": int, "upscaling_speed": num,
//     "idle_timeout_minutes": num, "idle_release_after_startups": num,
//     "launch_payback": num,
//     "autoscaler": "head"|"local"|"off",
//     "gcs_port": int, "dashboard_port": int,
//     "provider": { "kind": "aws"|"gcp"|"localhost"|"onprem", "type": str,
//       "region": str, "availability_zone": str, "project_id": str,
//       "use_internal_ips": bool, "cache_stopped_nodes": bool,
//       "disable_node_updaters": bool, "disable_launch_config_check": bool,
//       "endpoint_url": str, "security_group_ids": [str], "subnet_id": str,
//       "key_name": str, "service_account_key": str, "network": str,
//       "subnetwork": str,
//       "firewall_rules": [{"name": str, "ports": [str], "allowed_sources": [str]}],
//       "head_ip": str, "worker_ips": [str], "coordinator_address": str,
//       "stop_commands": [str], "ssh_allowed_cidrs": [str] },
//     "auth": { "ssh_user", "ssh_private_key", "ssh_public_key",
//               "ssh_proxy_command": str, "ssh_port": int },
//     "docker": null | DOCKER,
//     "head_node_type": str,
//     "node_types": [ { "name": str, "node_config": {provider-native},
//       "resources": {str: num}, "labels": {str: str}, "min_workers": int,
//       "max_workers": int, "initial_workers": int,
//       "idle_timeout_minutes": null|num, "cost_per_hour": null|num,
//       "worker_setup_commands": null|[str],
//       "initialization_commands": null|[str],
//       "commands": {"initialization_commands", "setup_commands",
//                    "start_ray_commands": [str]}  (node_commands()),
//       "docker": null|DOCKER, "startup_seconds": null|num } ],
//     "file_mounts": {remote: local}, "cluster_synced_files": [str],
//     "file_mounts_sync_continuously": bool, "rsync_exclude": [str],
//     "rsync_filter": [str], "initialization_commands": [str],
//     "setup_commands": [str], "head_setup_commands": [str],
//     "worker_setup_commands": [str], "head_start_ray_commands": [str],
//     "worker_start_ray_commands": [str], "tags": {str: str},
//     "warnings": [{"file", "line", "column", "key", "message", "hint"}],
//     "storage": [{"name": str, "size_gb": int, "type": str, "mount_path": str,
//                  "node_types": [str]}] }
//
// DOCKER = { "image", "head_image", "worker_image", "container_name": str,
//   "pull_before_run": bool, "run_options", "head_run_options",
//   "worker_run_options": [str], "disable_automatic_runtime_detection": bool,
//   "disable_shm_size_detection", "use_podman": bool }
// Secrets are never in a spec (key fields are paths), so the output is safe to log.
Value spec_to_value(const ClusterSpec& spec);

// The spec in the config schema load_spec_* reads (Ray's; JSON is YAML):
// what another machine needs to act for the cluster, i.e. launch and set up
// its nodes. cluster_name, max_workers, upscaling_speed, idle_timeout_minutes,
// idle_release_after_startups, launch_payback, autoscaler; provider (as
// written, with type, region, availability_zone and project_id as
// normalised); auth (ssh_user, ssh_port, and ssh_private_key and
// ssh_proxy_command when set); docker when on; available_node_types
// (node_config, resources, min/max/initial_workers, and labels,
// idle_timeout_minutes, startup_seconds, initialization_commands,
// worker_setup_commands and docker when set); head_node_type; file_mounts
// (remote: local path); the synced files, rsync filters and command lists.
// Not written: tags, storage, ports, ssh_public_key. Keys are paths: no
// secret is in it. Loading it again gives the same nodes and commands.
Value spec_to_config(const ClusterSpec& spec);

}  // namespace raycluster
