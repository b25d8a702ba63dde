// AwsProvider::bootstrap: subnets, security group, key pair and image, each
// found first and created only when missing.
#include <algorithm>
#include <cstdio>
#include <set>

#include "providers/aws/aws_provider.hpp"
#include "providers/aws/instance_types.hpp"
#include "providers/common/answer_cache.hpp"
#include "providers/common/base64.hpp"
#include "providers/aws/query_names.hpp"
#include "providers/common/caller_address.hpp"
#include "providers/common/ssh_key.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::ec2 {
namespace {

constexpr const char* kCanonicalOwner = "099720109477";

std::vector<std::string> strings_of(const Value* v) {
  std::vector<std::string> out;
  if (!v) return out;
  if (v->is_string()) out.push_back(v->as_string());
  if (v->is_array())
    for (const auto& x : v->as_array())
      if (x.is_string()) out.push_back(x.as_string());
  return out;
}

// Graviton families (m6g, c7gn, t4g, ...) need arm64 images.
bool is_arm_type(const std::string& instance_type) {
  auto dot = instance_type.find('.');
  std::string family = instance_type.substr(0, dot);
  auto digit = family.find_first_of("0123456789");
  if (digit == std::string::npos) return false;
  auto after = family.find_first_not_of("0123456789", digit);
  return after != std::string::npos && family[after] == 'g';
}

// The key type and base64 fields of an OpenSSH public key line.
std::string key_fields(const std::string& line) {
  auto parts = split(std::string(trim(line)), ' ');
  parts.erase(std::remove(parts.begin(), parts.end(), std::string()), parts.end());
  if (parts.size() < 2) return std::string(trim(line));
  return parts[0] + " " + parts[1];
}

void add_tag_spec(QueryParams& p, const std::string& resource_type, const Tags& tags) {
  p.emplace_back("TagSpecification.1.ResourceType", resource_type);
  int i = 0;
  for (const auto& [k, v] : tags) {
    std::string t = "TagSpecification.1.Tag." + std::to_string(++i);
    p.emplace_back(t + ".Key", k);
    p.emplace_back(t + ".Value", v);
  }
}

}  // namespace

void AwsProvider::bootstrap(const EventSink& events, const CancelToken& cancel) {
  std::vector<Event> notes;
  {
    std::lock_guard<std::mutex> lock(boot_mu_);
    EventSink collect = [&](const Event& e) { notes.push_back(e); };
    bootstrap_locked(collect, cancel);
  }
  // Reported after the lock is released: a sink may call back in.
  if (events)
    for (const auto& e : notes) events(e);
}

namespace {

}  // namespace

void AwsProvider::bootstrap_locked(const EventSink& events, const CancelToken& cancel) {
  // Unknown node_config keys fail here, before anything is created.
  for (const auto& type : spec_.node_types) {
    QueryParams scratch;
    encode_node_config(type.node_config, "available_node_types." + type.name + ".node_config",
                       {"SubnetIds"}, scratch);
  }
  cancel.throw_if_cancelled();
  warn_of_foreign_instances(events, cancel);

  std::set<std::string> vpcs;
  std::map<std::string, TypeLaunch> launch = place_node_types(vpcs, cancel);
  const std::string sg_id = security_group_for(launch, vpcs, events, cancel);
  ensure_key_pair(events, cancel);
  std::map<bool, std::string> images;  // arm -> image
  for (const auto& type : spec_.node_types) {
    if (type.node_config.find("ImageId") || type.node_config.find("LaunchTemplate")) continue;
    std::string it;
    if (const Value* v = type.node_config.find("InstanceType"); v && v->is_string()) it = v->as_string();
    bool arm = is_arm_type(it);
    if (!images.count(arm)) images[arm] = default_image(arm, cancel);
    launch[type.name].image_id = images[arm];
  }
  const std::string key = key_name();
  for (const auto& type : spec_.node_types)
    if (!type.node_config.find("KeyName")) launch[type.name].key_name = key;
  for (const auto& [name, tl] : launch) {
    if (!tl.image_id.empty())
      log_event(events, LogLevel::info, "node type " + name + ": image " + tl.image_id);
    std::vector<std::string> where;
    for (const auto& p : tl.placements) where.push_back(p.subnet_id.empty() ? p.zone : p.subnet_id + " (" + p.zone + ")");
    log_event(events, LogLevel::debug, "node type " + name + ": subnets " + join(where, ", "));
  }
  std::lock_guard<std::mutex> lock(mu_);
  launch_ = std::move(launch);
  sg_id_ = sg_id;
  bootstrapped_ = true;
}

// Instances of this name from another state folder.
void AwsProvider::warn_of_foreign_instances(const EventSink& events, const CancelToken& cancel) {
  ours(describe_cluster({"pending", "running", "stopping", "stopped"}, cancel));
  auto foreign = foreign_instances();
  if (foreign.empty()) return;
  std::string msg = std::to_string(foreign.size()) + " running instance(s) named " +
                    spec_.cluster_name + " carry another " + tags::cluster_id +
                    " than this state folder's " + identity_.id + ":";
  for (const auto& [id, other] : foreign) msg += " " + id + " (" + other + ")";
  msg += "; raycluster leaves them alone";
  log_event(events, LogLevel::warning, msg);
}

// Each node type's placements (subnets in availability_zone order), and the
// VPCs they are in.
std::map<std::string, AwsProvider::TypeLaunch> AwsProvider::place_node_types(
    std::set<std::string>& vpcs, const CancelToken& cancel) {
  std::vector<std::string> zones;
  for (const auto& z : split(spec_.provider.availability_zone, ','))
    if (!trim(z).empty()) zones.emplace_back(trim(z));
  std::map<std::string, std::vector<std::string>> named;  // type -> subnet ids
  std::vector<std::string> all_ids;
  bool need_default = false;
  for (const auto& type : spec_.node_types) {
    std::vector<std::string> ids = strings_of(type.node_config.find("SubnetIds"));
    if (ids.empty()) ids = strings_of(type.node_config.find("SubnetId"));
    if (const Value* nics = type.node_config.find("NetworkInterfaces"); nics && nics->is_array())
      for (const auto& nic : nics->as_array())
        for (const auto& s : strings_of(nic.find("SubnetId"))) ids.push_back(s);
    if (ids.empty() && !spec_.provider.subnet_id.empty()) ids.push_back(spec_.provider.subnet_id);
    if (ids.empty()) need_default = true;
    for (const auto& id : ids)
      if (std::find(all_ids.begin(), all_ids.end(), id) == all_ids.end()) all_ids.push_back(id);
    named[type.name] = ids;
  }
  std::map<std::string, Subnet> known;
  if (!all_ids.empty())
    for (auto& s : describe_subnets(all_ids, false, cancel)) known[s.id] = s;
  for (const auto& id : all_ids)
    if (!known.count(id))
      throw Error(ErrorCode::not_found, "subnet " + id + " does not exist in " + region_);
  std::vector<Subnet> defaults;
  if (need_default) {
    defaults = describe_subnets({}, true, cancel);
    std::sort(defaults.begin(), defaults.end(),
              [](const Subnet& a, const Subnet& b) { return a.zone < b.zone; });
    if (defaults.empty())
      throw Error(ErrorCode::not_found,
                  "no default VPC subnets in " + region_ +
                      (zones.empty() ? std::string() : " (zones " + join(zones, ",") + ")") +
                      ": name subnets with provider.subnet_id or a node type's SubnetIds");
  }
  // availability_zone lists the zones to use, in the order to try them.
  auto in_zone_order = [&](std::vector<Subnet> subnets, const std::string& what) {
    if (zones.empty()) return subnets;
    std::vector<Subnet> out;
    for (const auto& z : zones)
      for (const auto& s : subnets)
        if (s.zone == z) out.push_back(s);
    if (out.empty())
      throw Error(ErrorCode::config, "none of the subnets of " + what + " is in provider.availability_zone " +
                                         spec_.provider.availability_zone);
    return out;
  };
  std::map<std::string, TypeLaunch> launch;
  for (const auto& type : spec_.node_types) {
    TypeLaunch& tl = launch[type.name];
    std::vector<Subnet> subnets;
    for (const auto& id : named[type.name]) subnets.push_back(known[id]);
    if (subnets.empty()) subnets = defaults;
    subnets = in_zone_order(subnets, type.name);
    const Value* nics = type.node_config.find("NetworkInterfaces");
    if (nics && nics->is_array() && nics->size() > 0) {
      // The network interfaces name the subnet: one placement, no zone fallback.
      tl.placements.push_back({"", subnets.empty() ? std::string() : subnets.front().zone});
    } else {
      for (const auto& s : subnets) tl.placements.push_back({s.id, s.zone});
    }
    for (const auto& s : subnets) vpcs.insert(s.vpc_id);
  }

  return launch;
}

// The security group of every node type without its own: the configured
// ones, else raycluster's own (created or reused); returns the latter's id.
std::string AwsProvider::security_group_for(std::map<std::string, TypeLaunch>& launch,
                                            const std::set<std::string>& vpcs,
                                            const EventSink& events, const CancelToken& cancel) {
  bool need_sg = false;
  std::string sg_id;
  for (const auto& type : spec_.node_types) {
    bool has_own = type.node_config.find("SecurityGroupIds") != nullptr;
    if (const Value* nics = type.node_config.find("NetworkInterfaces"); nics && nics->is_array()) {
      has_own = nics->size() > 0;
      for (const auto& nic : nics->as_array()) has_own = has_own && nic.find("Groups");
    }
    if (!has_own && spec_.provider.security_group_ids.empty()) need_sg = true;
  }
  if (need_sg) {
    if (vpcs.size() != 1)
      throw Error(ErrorCode::config,
                  "the node types' subnets are in " + std::to_string(vpcs.size()) +
                      " VPCs; raycluster creates its security group in one: give every node "
                      "type subnets of one VPC, or name groups with SecurityGroupIds");
    sg_id = ensure_security_group(*vpcs.begin(), events, cancel);
  }
  for (const auto& type : spec_.node_types) {
    if (type.node_config.find("SecurityGroupIds")) continue;
    launch[type.name].security_groups =
        spec_.provider.security_group_ids.empty() ? std::vector<std::string>{sg_id}
                                                  : spec_.provider.security_group_ids;
  }

  return sg_id;
}

std::vector<Subnet> AwsProvider::describe_subnets(const std::vector<std::string>& ids,
                                                  bool defaults, const CancelToken& cancel) {
  QueryParams p;
  add_list(p, "SubnetId", ids);
  if (defaults) {
    // Default subnets exist only in the default VPC, one per zone.
    add_filter(p, 1, "default-for-az", {"true"});
  }
  std::string body = client_->call("DescribeSubnets", p, cancel);
  return parse_subnets(body);
}

std::string AwsProvider::ensure_security_group(const std::string& vpc_id, const EventSink& events,
                                               const CancelToken& cancel) {
  const std::string name = "raycluster-" + spec_.cluster_name;
  auto find = [&]() -> std::optional<SecurityGroup> {
    QueryParams p;
    add_filter(p, 1, "group-name", {name});
    add_filter(p, 2, "vpc-id", {vpc_id});
    std::string body = client_->call("DescribeSecurityGroups", p, cancel);
    auto groups = parse_security_groups(body);
    if (groups.empty()) return std::nullopt;
    return groups.front();
  };
  auto note = [&](const std::string& msg) {
    Event e;
    e.kind = EventKind::log;
    e.message = msg;
    events(e);
  };
  auto group = find();
  if (!group) {
    QueryParams p;
    p.emplace_back("GroupName", name);
    p.emplace_back("GroupDescription",
                   "raycluster " + spec_.cluster_name + ": SSH from the operator, all traffic within the group");
    p.emplace_back("VpcId", vpc_id);
    add_tag_spec(p, "security-group",
                 {{tags::cluster_name, spec_.cluster_name}, {tags::cluster_id, identity_.id}});
    try {
      std::string body = client_->call("CreateSecurityGroup", p, cancel);
      SecurityGroup g;
      g.id = find_text(body, "groupId").value_or("");
      g.name = name;
      g.vpc_id = vpc_id;
      if (g.id.empty()) throw Error(ErrorCode::invalid_request, "CreateSecurityGroup answered without a groupId");
      group = g;
      note("created security group " + g.id + " (" + name + ") in " + vpc_id);
    } catch (const Ec2Error& e) {
      // Created meanwhile (or by a retried request whose answer was lost).
      if (e.aws_code() != "InvalidGroup.Duplicate") throw;
      group = find();
      if (!group) throw;
    }
  } else {
    note("using security group " + group->id + " (" + name + ")");
  }

  const int port = spec_.auth.ssh_port;
  const auto cidrs = caller_ssh_cidrs(spec_, ctx_.env, *retrying_, cancel);
  if (spec_.provider.ssh_allowed_cidrs.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    ssh_cidrs_ = cidrs;
  }
  bool self_rule = false;
  std::vector<std::string> missing;
  for (const auto& perm : group->ingress)
    if (perm.protocol == "-1" &&
        std::find(perm.group_ids.begin(), perm.group_ids.end(), group->id) != perm.group_ids.end())
      self_rule = true;
  for (const auto& cidr : cidrs) {
    bool covered = false;
    for (const auto& perm : group->ingress) {
      bool ports = perm.protocol == "-1" ||
                   (perm.protocol == "tcp" && perm.from_port <= port && port <= perm.to_port);
      if (ports && std::find(perm.cidrs.begin(), perm.cidrs.end(), cidr) != perm.cidrs.end())
        covered = true;
    }
    if (!covered) missing.push_back(cidr);
  }
  if (self_rule && missing.empty()) return group->id;
  QueryParams p;
  p.emplace_back("GroupId", group->id);
  int n = 0;
  if (!self_rule) {
    std::string perm = "IpPermissions." + std::to_string(++n);
    p.emplace_back(perm + ".IpProtocol", "-1");
    p.emplace_back(perm + ".Groups.1.GroupId", group->id);
  }
  if (!missing.empty()) {
    std::string perm = "IpPermissions." + std::to_string(++n);
    p.emplace_back(perm + ".IpProtocol", "tcp");
    p.emplace_back(perm + ".FromPort", std::to_string(port));
    p.emplace_back(perm + ".ToPort", std::to_string(port));
    for (std::size_t i = 0; i < missing.size(); ++i)
      p.emplace_back(perm + ".IpRanges." + std::to_string(i + 1) + ".CidrIp", missing[i]);
  }
  try {
    client_->call("AuthorizeSecurityGroupIngress", p, cancel);
  } catch (const Ec2Error& e) {
    if (e.aws_code() != "InvalidPermission.Duplicate") throw;
  }
  if (!missing.empty())
    note("security group " + group->id + ": SSH (port " + std::to_string(port) + ") from " +
         join(missing, ", "));
  return group->id;
}

void AwsProvider::ensure_key_pair(const EventSink& events, const CancelToken& cancel) {
  auto note = [&](const std::string& msg) {
    Event e;
    e.kind = EventKind::log;
    e.message = msg;
    events(e);
  };
  auto describe = [&](const std::string& name) -> std::optional<KeyPair> {
    QueryParams p;
    p.emplace_back("KeyName.1", name);
    p.emplace_back("IncludePublicKey", "true");
    try {
      std::string body = client_->call("DescribeKeyPairs", p, cancel);
      auto keys = parse_key_pairs(body);
      if (keys.empty()) return std::nullopt;
      return keys.front();
    } catch (const Ec2Error& e) {
      if (e.code() == ErrorCode::not_found) return std::nullopt;
      throw;
    }
  };
  const Tags key_tags = {{tags::cluster_name, spec_.cluster_name}, {tags::cluster_id, identity_.id}};
  auto import = [&](const std::string& name, const std::string& public_key) {
    QueryParams p;
    p.emplace_back("KeyName", name);
    p.emplace_back("PublicKeyMaterial", base64_encode(public_key));
    add_tag_spec(p, "key-pair", key_tags);
    try {
      client_->call("ImportKeyPair", p, cancel);
    } catch (const Ec2Error& e) {
      if (e.aws_code() != "InvalidKeyPair.Duplicate") throw;
    }
    note("imported key pair " + name);
  };
  auto set = [&](const std::string& name, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    key_name_ = name;
    key_path_ = path;
  };
  const std::string base = "raycluster_" + spec_.cluster_name + "_" + region_;

  if (!spec_.auth.ssh_private_key.empty()) {
    const std::string& path = spec_.auth.ssh_private_key;
    const std::string name = spec_.provider.key_name.empty() ? base : spec_.provider.key_name;
    std::string pub = ssh_public_key(read_file(path, 1 << 20), path);
    auto existing = describe(name);
    if (!existing) {
      import(name, pub);
    } else if (!existing->public_key.empty() && key_fields(existing->public_key) != key_fields(pub)) {
      throw Error(ErrorCode::config,
                  "key pair " + name + " in " + region_ + " holds another public key than " + path +
                      ": name another key pair (provider.key_pair.key_name) or point "
                      "auth.ssh_private_key at its private key");
    } else {
      note("using key pair " + name);
    }
    set(name, path);
    return;
  }
  if (!spec_.provider.key_name.empty()) {
    // The user's key pair without its private key: nodes can be launched but
    // not reached, which only works without node updaters.
    if (!spec_.provider.disable_node_updaters)
      throw Error(ErrorCode::config,
                  "key pair " + spec_.provider.key_name +
                      " is named but auth.ssh_private_key is not set: raycluster needs the private "
                      "key to reach the nodes");
    set(spec_.provider.key_name, "");
    return;
  }
  // Our own key pair, its private key in the state folder. A name whose key
  // exists in EC2 but not here (another machine's) is skipped for the next,
  // unless this folder asked for it and lost the answer (see
  // create_key_pair's `creating` marker).
  for (int i = 1; i <= 10; ++i) {
    const std::string name = i == 1 ? base : base + "_" + std::to_string(i);
    const std::string file = key_file_for(name);
    auto existing = describe(name);
    if (path_exists(file)) {
      if (!existing) import(name, ssh_public_key(read_file(file, 1 << 20), file));
      else note("using key pair " + name);
      set(name, file);
      return;
    }
    if (existing && !path_exists(file + ".creating")) continue;
    create_key_pair(name, file, existing.has_value(), key_tags, cancel);
    note("created key pair " + name + ", private key " + file);
    set(name, file);
    return;
  }
  throw Error(ErrorCode::conflict, "key pairs " + base + " to " + base +
                                       "_10 exist in EC2 but their private keys are not in " +
                                       identity_.state_dir + ": set auth.ssh_private_key");
}

// Makes key pair `name` and saves its private key to `file` (0600). A marker
// file is written before CreateKeyPair and removed once the private key is
// saved: a key pair found in EC2 while the marker is here was made by a
// request of this folder whose answer (and the private key in it) was lost,
// perhaps by an earlier run whose retries ran out; `replace` deletes it first.
void AwsProvider::create_key_pair(const std::string& name, const std::string& file, bool replace,
                                  const Tags& key_tags, const CancelToken& cancel) {
  auto remove_key_pair = [&] {
    QueryParams del;
    del.emplace_back("KeyName", name);
    client_->call("DeleteKeyPair", del, cancel);
  };
  const std::string creating = file + ".creating";
  if (replace) remove_key_pair();
  make_dirs(identity_.state_dir, 0700);
  write_file_atomic(creating, "", 0600);
  QueryParams p;
  p.emplace_back("KeyName", name);
  p.emplace_back("KeyType", "rsa");
  p.emplace_back("KeyFormat", "pem");
  add_tag_spec(p, "key-pair", key_tags);
  std::string body;
  for (int round = 1;; ++round) {
    try {
      body = client_->call("CreateKeyPair", p, cancel);
      break;
    } catch (const Ec2Error& e) {
      // Made by a request whose answer was lost: its private key is gone
      // with the answer, so make it again.
      if (e.aws_code() != "InvalidKeyPair.Duplicate" || round >= 3) throw;
      remove_key_pair();
    }
  }
  auto material = find_text(body, "keyMaterial");
  if (!material || material->empty())
    throw Error(ErrorCode::invalid_request, "CreateKeyPair answered without key material");
  write_file_atomic(file, *material + (material->back() == '\n' ? "" : "\n"), 0600);
  std::remove(creating.c_str());
}

std::string AwsProvider::image_pin_path() const { return identity_.state_dir + "/images.json"; }

// The default image is chosen once per cluster and kept in the state folder
// until a full `down`: nodes launched later (by `scale` or the autoscaler)
// get the head's image, whatever Canonical has published since, so Python
// and Ray stay the same on every node.
std::string AwsProvider::default_image(bool arm, const CancelToken& cancel) {
  const std::string arch = arm ? "arm64" : "amd64";
  const std::string pin_key = region_ + "/" + arch;
  const std::string pin_path = image_pin_path();
  Value pins = Value::object();
  if (path_exists(pin_path)) {
    try {
      pins = Value::parse_json(read_file(pin_path, 1 << 16));
    } catch (const std::exception&) {
      pins = Value::object();  // unreadable: chosen again and rewritten
    }
    if (!pins.is_object()) pins = Value::object();
    if (const Value* v = pins.find(pin_key); v && v->is_string() && !v->as_string().empty())
      return v->as_string();
  }
  std::string chosen = latest_default_image(arch, cancel);
  pins.set(pin_key, chosen);
  write_file_atomic(pin_path, pins.to_json(2) + "\n", 0600);
  return chosen;
}

std::string AwsProvider::latest_default_image(const std::string& arch, const CancelToken& cancel) {
  QueryParams p;
  p.emplace_back("Owner.1", kCanonicalOwner);
  add_filter(p, 1, "name",
             {"ubuntu/images/hvm-ssd*/ubuntu-*-24.04-" + arch + "-server-*",
              "ubuntu/images/hvm-ssd*/ubuntu-*-22.04-" + arch + "-server-*"});
  add_filter(p, 2, "state", {"available"});
  std::string body = client_->call("DescribeImages", p, cancel);
  auto images = parse_images(body);
  const Image* best = nullptr;
  auto rank = [](const Image& i) { return i.name.find("-24.04-") != std::string::npos ? 1 : 0; };
  for (const auto& i : images) {
    if (!best || rank(i) > rank(*best) ||
        (rank(i) == rank(*best) && i.creation_date > best->creation_date))
      best = &i;
  }
  if (!best)
    throw Error(ErrorCode::not_found, "no Ubuntu 24.04 or 22.04 " + arch + " image in " + region_ +
                                          ": set ImageId in node_config");
  return best->id;
}

// Ray's AWS provider asks for every instance type of the region once;
// asking for the one type a node type names is one small answer instead.
InstanceTypeInfo AwsProvider::instance_type_info(const std::string& type,
                                                 const CancelToken& cancel) {
  std::lock_guard<std::mutex> lock(types_mu_);
  if (auto it = instance_types_.find(type); it != instance_types_.end()) return it->second;
  const std::string path = identity_.state_dir + "/instance_types.json";
  const std::string key = region_ + "/" + type;
  if (auto v = cached_answer(path, key))
    if (auto info = instance_type_from(type, *v)) return instance_types_[type] = *info;
  QueryParams p;
  p.emplace_back("InstanceType.1", type);
  std::string body = client_->call("DescribeInstanceTypes", p, cancel);
  for (auto& info : parse_instance_types(body)) {
    if (info.name != type) continue;
    store_answer(path, key, instance_type_value(info));
    return instance_types_[type] = info;
  }
  throw Error(ErrorCode::invalid_request,
              "instance type " + type + " is not available in AWS region " + region_);
}

std::map<std::string, double> AwsProvider::node_type_resources(const NodeTypeSpec& type, bool head,
                                                               const CancelToken& cancel) {
  const Value* it = type.node_config.is_object() ? type.node_config.find("InstanceType") : nullptr;
  if (!it || !it->is_string() || it->as_string().empty()) return {};
  return ray_resources_of(instance_type_info(it->as_string(), cancel), head);
}

}  // namespace raycluster::detail::ec2
