// Defaults per provider and the checks that span several keys.
#include <optional>
#include <string_view>

#include "spec/defaults.hpp"
#include "spec/parser.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

// The port a start command gives with `FLAG=N` or `FLAG N` (the last one
// wins, as in Ray's own argument parsing); nullopt when absent or not a
// literal number (a shell variable, say).
std::optional<int> port_flag(const std::vector<std::string>& commands, std::string_view flag) {
  std::optional<int> found;
  for (const auto& command : commands) {
    std::vector<std::string> words;
    std::string word;
    for (char c : command + " ") {
      if (c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|' || c == '\n') {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
      } else {
        word += c;
      }
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
      std::string value;
      if (words[i] == flag && i + 1 < words.size())
        value = words[i + 1];
      else if (words[i].size() > flag.size() + 1 && words[i].compare(0, flag.size(), flag) == 0 &&
               words[i][flag.size()] == '=')
        value = words[i].substr(flag.size() + 1);
      else
        continue;
      if (value.empty() || value.size() > 5 ||
          value.find_first_not_of("0123456789") != std::string::npos)
        continue;
      int port = std::stoi(value);
      if (port > 0 && port < 65536) found = port;
    }
  }
  return found;
}

}  // namespace

void Parser::default_node_types() {
  ProviderKind kind = s_.provider.kind;
  if (kind == ProviderKind::onprem) {
    // Ray's on-prem: one type for every machine, head included.
    NodeTypeSpec t;
    t.name = kOnpremNodeType;
    t.node_config = Value::object();
    s_.node_types.push_back(std::move(t));
    meta_.push_back(TypeMeta{YAML::Node(), "", false, false, true});
    s_.head_node_type = kOnpremNodeType;
    return;
  }
  // The names (and, on GCP, the resources) of Ray's defaults file.
  const bool gcp = kind == ProviderKind::gcp;
  NodeTypeSpec head;
  head.name = gcp ? kGcpDefaultHeadType : kLegacyHeadType;
  head.node_config = default_node_config(kind);
  NodeTypeSpec worker;
  worker.name = gcp ? kGcpDefaultWorkerType : kLegacyWorkerType;
  worker.node_config = default_node_config(kind);
  if (kind == ProviderKind::localhost) {
    head.resources = {{"CPU", 1}};
    worker.resources = {{"CPU", 1}};
  } else if (gcp) {
    head.resources = {{"CPU", 2}};
    worker.resources = {{"CPU", 2}};
  }
  s_.head_node_type = head.name;
  s_.node_types.push_back(std::move(head));
  meta_.push_back(TypeMeta{YAML::Node(), "", false, false, true});
  s_.node_types.push_back(std::move(worker));
  meta_.push_back(TypeMeta{YAML::Node(), "", false, false, true});
}

void Parser::fill_defaults() {
  ProviderKind kind = s_.provider.kind;
  ProviderSpec& p = s_.provider;
  if (kind == ProviderKind::onprem) {
    int n = static_cast<int>(p.worker_ips.size());
    if (p.coordinator_address.empty()) s_.max_workers = n;
    if (!p.raw.find("stop_commands")) p.stop_commands = {"ray stop"};
    for (std::size_t i = 0; i < s_.node_types.size(); ++i) {
      NodeTypeSpec& t = s_.node_types[i];
      if (t.name == kOnpremNodeType && meta_[i].path.empty()) {
        t.min_workers = t.max_workers = t.initial_workers = n;
        meta_[i].max_given = meta_[i].initial_given = true;
      }
    }
  }
  if ((kind == ProviderKind::aws || kind == ProviderKind::gcp) && s_.auth.ssh_user.empty())
    s_.auth.ssh_user = "ubuntu";
  // Legacy head_node: {} on a cloud: Ray merged its default instance type in.
  if (s_.dialect == Dialect::ray_legacy && (kind == ProviderKind::aws || kind == ProviderKind::gcp))
    for (auto& t : s_.node_types)
      if (t.node_config.size() == 0) t.node_config = default_node_config(kind);

  for (std::size_t i = 0; i < s_.node_types.size(); ++i) {
    NodeTypeSpec& t = s_.node_types[i];
    const bool is_head = t.name == s_.head_node_type;
    if (!meta_[i].max_given) t.max_workers = is_head ? 0 : s_.max_workers;
    if (!meta_[i].initial_given) t.initial_workers = t.min_workers;
  }
  auto dflt = [&](const char* key, std::vector<std::string>& out,
                  std::vector<std::string> (*make)(ProviderKind)) {
    if (!command_given_.count(key)) out = make(kind);
  };
  dflt("head_start_ray_commands", s_.head_start_ray_commands, default_head_start_commands);
  dflt("worker_start_ray_commands", s_.worker_start_ray_commands, default_worker_start_commands);
  dflt("setup_commands", s_.setup_commands, default_setup_commands);
  // Where the head's start commands move Ray's ports, the tunnels to the
  // dashboard (`dashboard`, the autoscaler's load) and the workers follow.
  if (auto port = port_flag(s_.head_start_ray_commands, "--dashboard-port")) s_.dashboard_port = *port;
  if (auto port = port_flag(s_.head_start_ray_commands, "--port")) s_.gcs_port = *port;
  fill_provider_from_node_configs();
}

void Parser::fill_provider_from_node_configs() {
  // A Ray-schema config names its key pair, security groups, subnet and
  // network inside node_config; lift the head's into ProviderSpec so every
  // dialect fills the same fields.
  const NodeTypeSpec* head = s_.find_node_type(s_.head_node_type);
  if (!head || !head->node_config.is_object()) return;
  ProviderSpec& p = s_.provider;
  const Value& c = head->node_config;
  auto first_string = [](const Value* v) -> std::string {
    if (!v) return {};
    if (v->is_string()) return v->as_string();
    if (v->is_array() && v->size() > 0 && v->as_array()[0].is_string())
      return v->as_array()[0].as_string();
    return {};
  };
  if (p.kind == ProviderKind::aws) {
    if (p.key_name.empty()) p.key_name = first_string(c.find("KeyName"));
    if (p.security_group_ids.empty())
      if (const Value* v = c.find("SecurityGroupIds"); v && v->is_array())
        for (const auto& id : v->as_array())
          if (id.is_string()) p.security_group_ids.push_back(id.as_string());
    if (p.subnet_id.empty()) p.subnet_id = first_string(c.find("SubnetIds"));
    if (p.subnet_id.empty()) p.subnet_id = first_string(c.find("SubnetId"));
  } else if (p.kind == ProviderKind::gcp) {
    if (const Value* nics = c.find("networkInterfaces"); nics && nics->is_array() && nics->size() > 0) {
      const Value& nic = nics->as_array()[0];
      if (p.network.empty()) p.network = first_string(nic.find("network"));
      if (p.subnetwork.empty()) p.subnetwork = first_string(nic.find("subnetwork"));
    }
  }
}

void Parser::require(bool ok, const std::string& key, const std::string& message,
                     const std::string& hint) {
  if (ok) return;
  YAML::Node anchor = s_.dialect == Dialect::flat ? root_ : YAML::Node(top("provider"));
  SourceLocation at = r_.where(s_.dialect == Dialect::flat ? key : "provider", anchor);
  r_.error(at, s_.dialect == Dialect::flat ? key : "provider." + key, message, hint);
}

void Parser::validate() {
  ProviderSpec& p = s_.provider;
  const bool flat = s_.dialect == Dialect::flat;
  switch (p.kind) {
    case ProviderKind::aws:
      require(!p.region.empty(), "region", "AWS needs a region",
              flat ? "add 'region: us-east-1'" : "add 'region: us-east-1' under provider");
      break;
    case ProviderKind::gcp:
      require(!p.project_id.empty(), "project_id", "GCP needs a project id",
              "add 'project_id: <your project>'");
      require(!p.region.empty(), "region", "GCP needs a region", "add 'region: us-central1'");
      require(!p.availability_zone.empty(), flat ? "zone" : "availability_zone",
              "GCP needs a zone",
              flat ? "add 'zone: us-central1-a'" : "add 'availability_zone: us-central1-a'");
      break;
    case ProviderKind::onprem:
      require(!p.head_ip.empty() || !p.coordinator_address.empty(), "head_ip",
              "the local (on-prem) provider needs head_ip", "add 'head_ip: <address of the head>'");
      if (s_.auth.ssh_user.empty())
        r_.error(r_.where("auth", top("provider")), "auth.ssh_user",
                 "the local (on-prem) provider needs auth.ssh_user",
                 "add 'auth: {ssh_user: <login on the machines>}'");
      break;
    case ProviderKind::localhost:
      break;
  }

  Strings names;
  for (const auto& t : s_.node_types) names.push_back(t.name);
  if (!s_.head_node_type.empty() && !s_.find_node_type(s_.head_node_type)) {
    auto m = closest_match(s_.head_node_type, names);
    YAML::Node h = top("head_node_type");
    r_.error(r_.where("head_node_type", h), "head_node_type",
             "head_node_type '" + s_.head_node_type + "' is not among available_node_types",
             m ? "did you mean '" + *m + "'?" : "use one of: " + join(names, ", "));
  }

  long min_sum = 0;
  for (std::size_t i = 0; i < s_.node_types.size(); ++i) {
    const NodeTypeSpec& t = s_.node_types[i];
    const TypeMeta& m = meta_[i];
    const std::string path = m.path.empty() ? std::string() : m.path;
    auto key = [&](const char* k) {
      if (flat) return std::string(k);
      return path.empty() ? std::string() : join_path(path, k);
    };
    auto at = [&](const char* k) {
      std::string kp = key(k);
      return r_.where(kp, m.node.IsDefined() ? m.node : root_);
    };
    min_sum += t.min_workers;
    if (t.min_workers > t.max_workers)
      r_.error(at("min_workers"), key("min_workers"),
               "node type " + t.name + ": min_workers (" + std::to_string(t.min_workers) +
                   ") is more than max_workers (" + std::to_string(t.max_workers) + ")",
               "lower min_workers or raise max_workers");
    else if (t.initial_workers < t.min_workers || t.initial_workers > t.max_workers)
      r_.error(at("initial_workers"), key("initial_workers"),
               "node type " + t.name + ": initial_workers (" + std::to_string(t.initial_workers) +
                   ") is outside min_workers..max_workers (" + std::to_string(t.min_workers) +
                   ".." + std::to_string(t.max_workers) + ")",
               "set initial_workers between min_workers and max_workers");
    if (p.kind == ProviderKind::localhost && (!m.resources_given || t.resources.empty()))
      r_.error(r_.where(path, m.node.IsDefined() ? m.node : root_), key("resources"),
               "node type " + t.name + " has no resources; the localhost provider cannot detect them",
               "add e.g. 'resources: {CPU: 1}'");
    if (!t.node_config.is_object()) continue;
    if (p.kind == ProviderKind::aws && !t.node_config.find("InstanceType") &&
        !t.node_config.find("LaunchTemplate"))
      r_.error(at("node_config"), key("node_config"),
               "node type " + t.name + " has no InstanceType in node_config",
               "add 'InstanceType: m5.large' (or a LaunchTemplate)");
    // A TPU node type (Ray's GCP TPU VMs) names acceleratorType or
    // acceleratorConfig instead of a machine type.
    if (p.kind == ProviderKind::gcp && !t.node_config.find("machineType") &&
        !t.node_config.find("sourceInstanceTemplate") && !is_gcp_tpu_node_config(t.node_config))
      r_.error(at("node_config"), key("node_config"),
               "node type " + t.name + " has no machineType in node_config",
               "add 'machineType: n1-standard-2' (or acceleratorType for a TPU node)");
  }
  if (min_sum > s_.max_workers) {
    YAML::Node mw = top("max_workers");
    SourceLocation at = max_workers_given_ ? r_.where("max_workers", mw)
                                           : r_.where("available_node_types", root_);
    r_.error(at, "max_workers",
             "the node types' min_workers add up to " + std::to_string(min_sum) +
                 ", more than the cluster's max_workers (" + std::to_string(s_.max_workers) + ")",
             "raise max_workers to at least " + std::to_string(min_sum) +
                 " or lower some min_workers");
  }
}

}  // namespace raycluster::detail
