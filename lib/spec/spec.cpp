// The public face of lib/spec: loading, names, lookups and the JSON view.
#include "spec/spec.hpp"

#include <filesystem>
#include <system_error>

#include "spec/parse.hpp"
#include "util/fs.hpp"

namespace raycluster {

namespace {

std::string summary(const std::vector<Diagnostic>& diagnostics) {
  std::string out = "invalid cluster config";
  if (diagnostics.empty()) return out;
  out += " (" + std::to_string(diagnostics.size()) +
         (diagnostics.size() == 1 ? " problem):" : " problems):");
  for (const auto& d : diagnostics) out += "\n  " + d.to_string();
  return out;
}

Value string_map(const std::map<std::string, std::string>& m) {
  Value out = Value::object();
  for (const auto& [k, v] : m) out.set(k, v);
  return out;
}

Value docker_value(const std::optional<DockerSpec>& d) {
  if (!d) return Value();
  Value o = Value::object();
  o.set("image", d->image);
  o.set("head_image", d->head_image);
  o.set("worker_image", d->worker_image);
  o.set("container_name", d->container_name);
  o.set("pull_before_run", d->pull_before_run);
  o.set("run_options", Value::strings(d->run_options));
  o.set("head_run_options", Value::strings(d->head_run_options));
  o.set("worker_run_options", Value::strings(d->worker_run_options));
  o.set("disable_automatic_runtime_detection", d->disable_automatic_runtime_detection);
  o.set("disable_shm_size_detection", d->disable_shm_size_detection);
  o.set("use_podman", d->use_podman);
  return o;
}

Value diagnostics_value(const std::vector<Diagnostic>& list) {
  Value out = Value::array();
  for (const auto& d : list) {
    Value o = Value::object();
    o.set("file", d.where.file);
    o.set("line", d.where.line);
    o.set("column", d.where.column);
    o.set("key", d.key_path);
    o.set("message", d.message);
    o.set("hint", d.hint);
    out.push(std::move(o));
  }
  return out;
}

Value resources_value(const std::map<std::string, double>& resources) {
  Value out = Value::object();
  for (const auto& [k, n] : resources) out.set(k, n);
  return out;
}

// The keys both views write alike: the cluster's scalars first ...
void set_cluster_scalars(Value& v, const ClusterSpec& spec) {
  v.set("cluster_name", spec.cluster_name);
  v.set("max_workers", spec.max_workers);
  v.set("upscaling_speed", spec.upscaling_speed);
  v.set("idle_timeout_minutes", spec.idle_timeout_minutes);
  v.set("idle_release_after_startups", spec.idle_release_after_startups);
  v.set("launch_payback", spec.launch_payback);
  v.set("autoscaler", spec.autoscaler);
}

// ... and its file syncing and command lists.
void set_sync_and_commands(Value& v, const ClusterSpec& spec) {
  v.set("cluster_synced_files", Value::strings(spec.cluster_synced_files));
  v.set("file_mounts_sync_continuously", spec.file_mounts_sync_continuously);
  v.set("rsync_exclude", Value::strings(spec.rsync_exclude));
  v.set("rsync_filter", Value::strings(spec.rsync_filter));
  v.set("initialization_commands", Value::strings(spec.initialization_commands));
  v.set("setup_commands", Value::strings(spec.setup_commands));
  v.set("head_setup_commands", Value::strings(spec.head_setup_commands));
  v.set("worker_setup_commands", Value::strings(spec.worker_setup_commands));
  v.set("head_start_ray_commands", Value::strings(spec.head_start_ray_commands));
  v.set("worker_start_ray_commands", Value::strings(spec.worker_start_ray_commands));
}

// A node type as the config schema writes it (available_node_types.<name>).
Value config_node_type(const NodeTypeSpec& t) {
  Value v = Value::object();
  v.set("node_config", t.node_config.is_object() ? t.node_config : Value::object());
  v.set("resources", resources_value(t.resources));
  if (!t.labels.empty()) v.set("labels", string_map(t.labels));
  v.set("min_workers", t.min_workers);
  v.set("max_workers", t.max_workers);
  v.set("initial_workers", t.initial_workers);
  if (t.idle_timeout_minutes) v.set("idle_timeout_minutes", *t.idle_timeout_minutes);
  if (t.startup_seconds) v.set("startup_seconds", *t.startup_seconds);
  if (t.initialization_commands)
    v.set("initialization_commands", Value::strings(*t.initialization_commands));
  if (t.worker_setup_commands) v.set("worker_setup_commands", Value::strings(*t.worker_setup_commands));
  if (t.docker) v.set("docker", docker_value(t.docker));
  return v;
}

Value commands_value(const NodeCommands& c) {
  Value o = Value::object();
  o.set("initialization_commands", Value::strings(c.initialization));
  o.set("setup_commands", Value::strings(c.setup));
  o.set("start_ray_commands", Value::strings(c.start));
  return o;
}

}  // namespace

std::string Diagnostic::to_string() const {
  std::string out = where.file.empty() ? std::string("<config>") : where.file;
  if (where.line > 0) {
    out += ":" + std::to_string(where.line);
    if (where.column > 0) out += ":" + std::to_string(where.column);
  }
  out += ": ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  if (!hint.empty()) out += " (" + hint + ")";
  return out;
}

ConfigError::ConfigError(std::vector<Diagnostic> diagnostics)
    : Error(ErrorCode::config, summary(diagnostics)), diagnostics_(std::move(diagnostics)) {}

const char* dialect_name(Dialect d) noexcept {
  switch (d) {
    case Dialect::ray: return "ray";
    case Dialect::ray_legacy: return "ray-legacy";
    case Dialect::flat: return "flat";
  }
  return "unknown";
}

const char* provider_kind_name(ProviderKind k) noexcept {
  switch (k) {
    case ProviderKind::aws: return "aws";
    case ProviderKind::gcp: return "gcp";
    case ProviderKind::localhost: return "localhost";
    case ProviderKind::onprem: return "onprem";
  }
  return "unknown";
}

const NodeTypeSpec* ClusterSpec::find_node_type(std::string_view name) const {
  for (const auto& t : node_types)
    if (t.name == name) return &t;
  return nullptr;
}

const NodeTypeSpec& ClusterSpec::head_type() const {
  if (const NodeTypeSpec* t = find_node_type(head_node_type)) return *t;
  throw Error(ErrorCode::internal, "cluster spec has no head node type '" + head_node_type + "'");
}

SourceLocation ClusterSpec::origin(std::string_view key_path) const {
  auto it = origins.find(std::string(key_path));
  if (it != origins.end()) return it->second;
  return SourceLocation{source_file, 0, 0};
}

bool is_gcp_tpu_node_config(const Value& node_config) {
  return node_config.is_object() &&
         (node_config.find("acceleratorType") || node_config.find("acceleratorConfig"));
}

NodeCommands node_commands(const ClusterSpec& spec, const NodeTypeSpec& type, bool head) {
  NodeCommands c;
  if (head) {
    c.initialization = spec.initialization_commands;
    c.setup = spec.setup_commands;
    c.setup.insert(c.setup.end(), spec.head_setup_commands.begin(), spec.head_setup_commands.end());
    c.start = spec.head_start_ray_commands;
    return c;
  }
  c.initialization = type.initialization_commands ? *type.initialization_commands
                                                  : spec.initialization_commands;
  if (type.worker_setup_commands) {
    c.setup = *type.worker_setup_commands;
  } else {
    c.setup = spec.setup_commands;
    c.setup.insert(c.setup.end(), spec.worker_setup_commands.begin(),
                   spec.worker_setup_commands.end());
  }
  c.start = spec.worker_start_ray_commands;
  return c;
}

ClusterSpec load_spec_string(std::string_view yaml_text, const std::string& name,
                             const SpecOptions& options) {
  return detail::parse_spec(yaml_text, name, "", detail::home_dir(), options);
}

ClusterSpec load_spec_file(const std::string& path, const SpecOptions& options) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > options.max_file_bytes)
    throw ConfigError({Diagnostic{
        SourceLocation{path, 0, 0}, "",
        "the file is " + std::to_string(size) + " bytes, more than the limit of " +
            std::to_string(options.max_file_bytes),
        "a cluster config is a few kilobytes; check the file name "
        "(or raise SpecOptions::max_file_bytes)"}});
  // read_file throws Error(io) for a missing or unreadable file, and
  // re-checks the limit for files that grow while read.
  std::string text = detail::read_file(path, options.max_file_bytes);
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  std::string base = ec ? std::string() : abs.parent_path().lexically_normal().string();
  return detail::parse_spec(text, path, base, detail::home_dir(), options);
}

Value spec_to_value(const ClusterSpec& spec) {
  Value v = Value::object();
  v.set("source_file", spec.source_file);
  v.set("dialect", dialect_name(spec.dialect));
  set_cluster_scalars(v, spec);
  v.set("gcs_port", spec.gcs_port);
  v.set("dashboard_port", spec.dashboard_port);

  const ProviderSpec& p = spec.provider;
  Value pv = Value::object();
  pv.set("kind", provider_kind_name(p.kind));
  pv.set("type", p.type);
  pv.set("region", p.region);
  pv.set("availability_zone", p.availability_zone);
  pv.set("project_id", p.project_id);
  pv.set("use_internal_ips", p.use_internal_ips);
  pv.set("cache_stopped_nodes", p.cache_stopped_nodes);
  pv.set("disable_node_updaters", p.disable_node_updaters);
  pv.set("disable_launch_config_check", p.disable_launch_config_check);
  pv.set("endpoint_url", p.endpoint_url);
  pv.set("security_group_ids", Value::strings(p.security_group_ids));
  pv.set("subnet_id", p.subnet_id);
  pv.set("key_name", p.key_name);
  pv.set("service_account_key", p.service_account_key);
  pv.set("network", p.network);
  pv.set("subnetwork", p.subnetwork);
  Value rules = Value::array();
  for (const auto& r : p.firewall_rules) {
    Value rv = Value::object();
    rv.set("name", r.name);
    rv.set("ports", Value::strings(r.ports));
    rv.set("allowed_sources", Value::strings(r.allowed_sources));
    rules.push(std::move(rv));
  }
  pv.set("firewall_rules", std::move(rules));
  pv.set("head_ip", p.head_ip);
  pv.set("worker_ips", Value::strings(p.worker_ips));
  pv.set("coordinator_address", p.coordinator_address);
  pv.set("stop_commands", Value::strings(p.stop_commands));
  pv.set("ssh_allowed_cidrs", Value::strings(p.ssh_allowed_cidrs));
  v.set("provider", std::move(pv));

  Value av = Value::object();
  av.set("ssh_user", spec.auth.ssh_user);
  av.set("ssh_private_key", spec.auth.ssh_private_key);
  av.set("ssh_public_key", spec.auth.ssh_public_key);
  av.set("ssh_proxy_command", spec.auth.ssh_proxy_command);
  av.set("ssh_port", spec.auth.ssh_port);
  v.set("auth", std::move(av));
  v.set("docker", docker_value(spec.docker));

  v.set("head_node_type", spec.head_node_type);
  Value types = Value::array();
  for (const auto& t : spec.node_types) {
    Value tv = Value::object();
    tv.set("name", t.name);
    tv.set("node_config", t.node_config);
    tv.set("resources", resources_value(t.resources));
    tv.set("labels", string_map(t.labels));
    tv.set("min_workers", t.min_workers);
    tv.set("max_workers", t.max_workers);
    tv.set("initial_workers", t.initial_workers);
    tv.set("idle_timeout_minutes",
           t.idle_timeout_minutes ? Value(*t.idle_timeout_minutes) : Value());
    tv.set("cost_per_hour", t.cost_per_hour ? Value(*t.cost_per_hour) : Value());
    tv.set("worker_setup_commands",
           t.worker_setup_commands ? Value::strings(*t.worker_setup_commands) : Value());
    tv.set("initialization_commands",
           t.initialization_commands ? Value::strings(*t.initialization_commands) : Value());
    tv.set("commands", commands_value(node_commands(spec, t, t.name == spec.head_node_type)));
    tv.set("docker", docker_value(t.docker));
    tv.set("startup_seconds", t.startup_seconds ? Value(*t.startup_seconds) : Value());
    types.push(std::move(tv));
  }
  v.set("node_types", std::move(types));

  v.set("file_mounts", string_map(spec.file_mounts));
  set_sync_and_commands(v, spec);
  v.set("tags", string_map(spec.tags));
  v.set("warnings", diagnostics_value(spec.warnings));
  Value storage = Value::array();
  for (const auto& vol : spec.storage) {
    Value sv = Value::object();
    sv.set("name", vol.name);
    sv.set("size_gb", vol.size_gb);
    sv.set("type", vol.type);
    sv.set("mount_path", vol.mount_path);
    sv.set("node_types", Value::strings(vol.node_types));
    storage.push(std::move(sv));
  }
  v.set("storage", std::move(storage));
  return v;
}

Value spec_to_config(const ClusterSpec& spec) {
  Value v = Value::object();
  set_cluster_scalars(v, spec);
  const ProviderSpec& p = spec.provider;
  Value pv = p.raw.is_object() ? p.raw : Value::object();
  pv.set("type", p.type);
  if (!p.region.empty()) pv.set("region", p.region);
  if (!p.availability_zone.empty()) pv.set("availability_zone", p.availability_zone);
  if (!p.project_id.empty()) pv.set("project_id", p.project_id);
  v.set("provider", std::move(pv));
  Value auth = Value::object();
  auth.set("ssh_user", spec.auth.ssh_user);
  if (!spec.auth.ssh_private_key.empty()) auth.set("ssh_private_key", spec.auth.ssh_private_key);
  if (!spec.auth.ssh_proxy_command.empty()) auth.set("ssh_proxy_command", spec.auth.ssh_proxy_command);
  auth.set("ssh_port", spec.auth.ssh_port);
  v.set("auth", std::move(auth));
  if (spec.docker) v.set("docker", docker_value(spec.docker));
  Value types = Value::object();
  for (const auto& t : spec.node_types) types.set(t.name, config_node_type(t));
  v.set("available_node_types", std::move(types));
  v.set("head_node_type", spec.head_node_type);
  v.set("file_mounts", string_map(spec.file_mounts));
  set_sync_and_commands(v, spec);
  return v;
}

}  // namespace raycluster
