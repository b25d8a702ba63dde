// The flat dialect (provider: aws|gcp and one line per setting).
#include <algorithm>

#include "spec/defaults.hpp"
#include "spec/parser.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

std::vector<FirewallRule> Parser::parse_firewall(const YAML::Node& n, const std::string& path) {
  std::vector<FirewallRule> out;
  if (!n.IsSequence()) {
    r_.error(n, path, "expected a list of rules {name, ports, allowed_sources}");
    return out;
  }
  std::size_t i = 0;
  for (auto it = n.begin(); it != n.end(); ++it, ++i) {
    const auto kv = *it;
    std::string p = path + "[" + std::to_string(i) + "]";
    if (!r_.expect_map(kv, p)) continue;
    r_.check_keys(kv, p, kFirewallKeys);
    FirewallRule rule;
    if (YAML::Node v = kv["name"]; present(v)) {
      if (auto x = r_.str(v, p + ".name")) rule.name = *x;
    } else {
      r_.error(kv, p + ".name", "the firewall rule has no name", "add 'name: allow-ssh'");
    }
    if (YAML::Node v = kv["ports"]; present(v)) {
      if (auto x = r_.str_list(v, p + ".ports")) {
        for (const auto& port : *x) {
          auto parts = split(port, '-');
          bool ok = !parts.empty() && parts.size() <= 2;
          long lo = -1, hi = -1;
          for (std::size_t k = 0; ok && k < parts.size(); ++k) {
            const auto& s = parts[k];
            ok = !s.empty() && s.size() <= 5 &&
                 std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (ok) (k == 0 ? lo : hi) = std::stol(s);
          }
          if (ok && hi < 0) hi = lo;
          if (!ok || lo > 65535 || hi > 65535 || lo > hi)
            r_.error(v, p + ".ports", "'" + port + "' is not a port or port range",
                     "write e.g. \"22\" or \"0-65535\"");
        }
        rule.ports = *x;
      }
    } else {
      r_.error(kv, p + ".ports", "the firewall rule has no ports", "add 'ports: [\"22\"]'");
    }
    if (YAML::Node v = kv["allowed_sources"]; present(v)) {
      if (auto x = r_.str_list(v, p + ".allowed_sources")) rule.allowed_sources = *x;
    } else {
      r_.error(kv, p + ".allowed_sources", "the firewall rule has no allowed_sources",
               "add the CIDRs that may connect, e.g. [\"203.0.113.7/32\"]");
    }
    out.push_back(std::move(rule));
  }
  return out;
}

// Sets the provider from `provider: aws|gcp`; false when it is neither.
bool Parser::parse_flat_provider() {
  YAML::Node pn = top("provider");
  const std::string type = pn.Scalar();
  ProviderSpec& p = s_.provider;
  p.type = type;
  if (type == "aws") {
    p.kind = ProviderKind::aws;
  } else if (type == "gcp") {
    p.kind = ProviderKind::gcp;
    p.cache_stopped_nodes = false;  // Ray's GCP default, as in its schema
  } else {
    auto m = closest_match(type, {"aws", "gcp"});
    r_.error(pn, "provider", "unknown provider '" + type + "' in the flat dialect",
             m ? "did you mean '" + *m + "'?"
               : "the flat dialect knows aws and gcp; for other providers write "
                 "'provider: {type: ...}' (Ray's schema)");
    return false;
  }
  provider_ok_ = true;
  const bool aws = p.kind == ProviderKind::aws;
  // Keys of the other cloud are mistakes, not silently ignored settings.
  for (const auto& k : aws ? kFlatGcpKeys : kFlatAwsKeys) {
    if (YAML::Node v = top(k.c_str()); v.IsDefined())
      r_.error(r_.where(k, v), k,
               "'" + k + "' is a " + (aws ? "GCP" : "AWS") + " setting but the provider is " + type,
               "remove it, or set 'provider: " + std::string(aws ? "gcp" : "aws") + "'");
  }
  return true;
}

std::string Parser::flat_str(const char* key) {
  if (YAML::Node v = top(key); present(v))
    if (auto x = r_.str(v, key)) return *x;
  return {};
}

// The AWS settings; returns the node_config they make.
Value Parser::parse_flat_aws(const std::string& instance_type) {
  ProviderSpec& p = s_.provider;
  Value config = Value::object();
  std::string image = flat_str("image_id");
  if (YAML::Node v = top("security_group_ids"); present(v)) {
    if (v.IsScalar())  // one id written without a list
      p.security_group_ids = {v.Scalar()};
    else if (auto x = r_.str_list(v, "security_group_ids"))
      p.security_group_ids = *x;
  }
  p.subnet_id = flat_str("subnet_id");
  p.key_name = flat_str("key_name");
  if (p.key_name.empty() && !s_.auth.ssh_private_key.empty()) {
    // The tutorial names the key pair after its .pem file.
    std::string base = s_.auth.ssh_private_key.substr(s_.auth.ssh_private_key.rfind('/') + 1);
    if (base.size() > 4 && base.ends_with(".pem")) base.resize(base.size() - 4);
    p.key_name = base;
  }
  config.set("InstanceType", instance_type);
  if (!image.empty()) config.set("ImageId", image);
  if (!p.key_name.empty()) config.set("KeyName", p.key_name);
  if (!p.security_group_ids.empty()) {
    Value ids = Value::array();
    for (const auto& id : p.security_group_ids) ids.push(id);
    config.set("SecurityGroupIds", std::move(ids));
  }
  if (!p.subnet_id.empty()) {
    Value ids = Value::array();
    ids.push(p.subnet_id);
    config.set("SubnetIds", std::move(ids));
  }
  if (YAML::Node v = top("tags"); present(v))
    if (auto x = r_.str_map(v, "tags")) s_.tags = *x;
  return config;
}

// The GCP settings; returns the node_config they make.
Value Parser::parse_flat_gcp(const std::string& instance_type) {
  ProviderSpec& p = s_.provider;
  Value config = Value::object();
  std::string image = flat_str("image");
  p.project_id = flat_str("project_id");
  p.service_account_key = expand(flat_str("gcp_service_account_key"));
  p.network = flat_str("network");
  p.subnetwork = flat_str("subnetwork");
  if (YAML::Node v = top("firewall_rules"); present(v))
    p.firewall_rules = parse_firewall(v, "firewall_rules");
  config.set("machineType", instance_type);
  Value disks = Value::array();
  disks.push(gcp_boot_disk(image.empty() ? kGcpDefaultImage : image, kGcpDefaultDiskGb));
  config.set("disks", std::move(disks));
  if (!p.network.empty() || !p.subnetwork.empty()) {
    Value nic = Value::object();
    if (!p.network.empty()) nic.set("network", p.network);
    if (!p.subnetwork.empty()) nic.set("subnetwork", p.subnetwork);
    Value nics = Value::array();
    nics.push(std::move(nic));
    config.set("networkInterfaces", std::move(nics));
  }
  if (YAML::Node v = top("labels"); present(v))
    if (auto x = r_.str_map(v, "labels")) s_.tags = *x;
  return config;
}

// disk_size_gb: the root disk of every node, in GiB. On AWS a
// BlockDeviceMappings entry for /dev/sda1 (the root device of Ubuntu images,
// as Ray's examples write it); on GCP the boot disk's size.
void Parser::apply_flat_disk_size(Value& node_config) {
  YAML::Node v = top("disk_size_gb");
  if (!present(v)) return;
  auto gb = r_.count(v, "disk_size_gb");
  if (!gb) return;
  if (*gb < 8 || *gb > 65536) {
    r_.error(r_.where("disk_size_gb", v), "disk_size_gb",
             "a root disk of " + std::to_string(*gb) + " GiB is out of range",
             "give a whole number of GiB from 8 to 65536");
    return;
  }
  if (s_.provider.kind == ProviderKind::aws) {
    Value ebs = Value::object();
    ebs.set("VolumeSize", *gb);
    ebs.set("VolumeType", "gp3");
    Value mapping = Value::object();
    mapping.set("DeviceName", "/dev/sda1");
    mapping.set("Ebs", std::move(ebs));
    Value mappings = Value::array();
    mappings.push(std::move(mapping));
    node_config.set("BlockDeviceMappings", std::move(mappings));
    return;
  }
  std::string image = flat_str("image");
  Value disks = Value::array();
  disks.push(gcp_boot_disk(image.empty() ? kGcpDefaultImage : image, *gb));
  node_config.set("disks", std::move(disks));
}

// upscaling_max_idle_time is the tutorial's name for idle_timeout_minutes.
void Parser::parse_flat_idle_alias() {
  YAML::Node alias = top("upscaling_max_idle_time");
  if (!present(alias)) return;
  if (auto v = r_.number(alias, "upscaling_max_idle_time", 0)) {
    YAML::Node main = top("idle_timeout_minutes");
    if (present(main) && *v != s_.idle_timeout_minutes)
      r_.error(alias, "upscaling_max_idle_time",
               "upscaling_max_idle_time and idle_timeout_minutes disagree (" + alias.Scalar() +
                   " vs " + main.Scalar() + ")",
               "they are the same setting, in minutes: keep only idle_timeout_minutes");
    else
      s_.idle_timeout_minutes = *v;
  }
}

// The head and worker types of the flat dialect, both of `node_config`.
void Parser::flat_node_types(const Value& node_config) {
  int min_workers = 0;
  if (YAML::Node v = top("min_workers"); present(v))
    if (auto x = r_.count(v, "min_workers")) min_workers = *x;

  NodeTypeSpec head;
  head.name = kLegacyHeadType;
  head.node_config = node_config;
  NodeTypeSpec worker;
  worker.name = kLegacyWorkerType;
  worker.node_config = node_config;
  worker.min_workers = min_workers;
  worker.max_workers = s_.max_workers;
  TypeMeta hm{YAML::Node(), "", true, false, false};
  TypeMeta wm{YAML::Node(), "", true, false, false};
  if (YAML::Node v = top("initial_workers"); present(v)) {
    wm.initial_given = true;
    if (auto x = r_.count(v, "initial_workers")) worker.initial_workers = *x;
  }
  s_.node_types.push_back(std::move(head));
  meta_.push_back(std::move(hm));
  s_.node_types.push_back(std::move(worker));
  meta_.push_back(std::move(wm));
  s_.head_node_type = kLegacyHeadType;
}

void Parser::parse_flat() {
  if (!parse_flat_provider()) return;
  ProviderSpec& p = s_.provider;
  const bool aws = p.kind == ProviderKind::aws;
  p.region = flat_str("region");
  p.availability_zone = flat_str("zone");
  std::string instance_type = flat_str("instance_type");
  if (instance_type.empty()) instance_type = aws ? kAwsDefaultInstanceType : kGcpDefaultMachineType;
  s_.auth.ssh_user = flat_str("ssh_user");
  s_.auth.ssh_private_key = expand(flat_str("ssh_private_key"));

  Value config = aws ? parse_flat_aws(instance_type) : parse_flat_gcp(instance_type);
  apply_flat_disk_size(config);
  p.raw = Value::object();
  p.raw.set("type", p.type);
  parse_flat_idle_alias();
  flat_node_types(config);
}

}  // namespace raycluster::detail
