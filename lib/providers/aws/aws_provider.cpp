#include "providers/aws/aws_provider.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <set>

#include "auth/aws_credentials_source.hpp"
#include "providers/aws/instance_stream.hpp"
#include "providers/aws/query_names.hpp"
#include "providers/common/launch.hpp"
#include "providers/common/ssh_nodes.hpp"
#include "providers/common/tag_filter.hpp"
#include "util/error.hpp"
#include "ssh/ssh.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::ec2 {
namespace {

using std::chrono::milliseconds;

// EC2's limits: ids per TerminateInstances/StopInstances/CreateTags call,
// and values per DescribeInstances filter.
constexpr std::size_t kIdsPerCall = 1000;
constexpr std::size_t kFilterValues = 200;

std::vector<std::vector<std::string>> chunks(const std::vector<std::string>& ids, std::size_t n) {
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 0; i < ids.size(); i += n)
    out.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(i),
                     ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + n)));
  return out;
}

CloudState state_of(const std::string& s) {
  if (s == "running") return CloudState::running;
  if (s == "stopping") return CloudState::stopping;
  if (s == "stopped") return CloudState::stopped;
  if (s == "shutting-down") return CloudState::terminating;
  if (s == "terminated") return CloudState::terminated;
  return CloudState::pending;
}

// Errors after which another zone may still have room.
bool is_zone_capacity_code(const std::string& c) {
  return (c.rfind("Insufficient", 0) == 0 && c.find("Capacity") != std::string::npos) ||
         c == "InsufficientFreeAddressesInSubnet" || c == "Unsupported";
}

bool is_spot(const NodeTypeSpec& type) {
  const Value* m = type.node_config.find("InstanceMarketOptions");
  const Value* t = m ? m->find("MarketType") : nullptr;
  return t && t->is_string() && t->as_string() == "spot";
}

std::string config_path(const NodeTypeSpec& type) {
  return "available_node_types." + type.name + ".node_config";
}

Value without(const Value& config, std::initializer_list<const char*> keys) {
  Value out = Value::object();
  if (!config.is_object()) return out;
  for (const auto& member : config.as_object()) {
    const std::string& k = member.first;  // named: clang 14 captures no structured binding
    if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return k == x; }) == keys.end())
      out.set(k, member.second);
  }
  return out;
}

Value tag_list(const Tags& tags) {
  Value list = Value::array();
  for (const auto& [k, v] : tags) {
    Value t = Value::object();
    t.set("Key", k);
    t.set("Value", v);
    list.push(std::move(t));
  }
  return list;
}

// The user's TagSpecifications with ours merged into the instance and volume
// entries (ours win on equal keys), plus those entries when missing.
Value merged_tag_specifications(const Value* user, const Tags& ours) {
  Value out = Value::array();
  bool have_instance = false, have_volume = false;
  auto merge = [&](const Value& spec) {
    Value s = Value::object();
    Tags merged;
    if (const Value* tags = spec.find("Tags"); tags && tags->is_array())
      for (const auto& t : tags->as_array()) {
        const Value* k = t.find("Key");
        const Value* v = t.find("Value");
        if (k && k->is_string() && !ours.count(k->as_string()))
          merged[k->as_string()] = v && v->is_string() ? v->as_string() : std::string();
      }
    for (const auto& [k, v] : ours) merged[k] = v;
    for (const auto& [k, v] : spec.as_object())
      if (k != "Tags") s.set(k, v);
    s.set("Tags", tag_list(merged));
    return s;
  };
  if (user && user->is_array()) {
    for (const auto& spec : user->as_array()) {
      const Value* rt = spec.is_object() ? spec.find("ResourceType") : nullptr;
      std::string type = rt && rt->is_string() ? rt->as_string() : "";
      if (type == "instance" || type == "volume") {
        (type == "instance" ? have_instance : have_volume) = true;
        out.push(merge(spec));
      } else {
        out.push(spec);
      }
    }
  }
  for (const char* type : {"instance", "volume"}) {
    if ((type == std::string("instance") && have_instance) ||
        (type == std::string("volume") && have_volume))
      continue;
    Value s = Value::object();
    s.set("ResourceType", type);
    s.set("Tags", tag_list(ours));
    out.push(std::move(s));
  }
  return out;
}

// Instance ids an InvalidInstanceID.NotFound message names.
std::vector<std::string> ids_in(const std::string& message) {
  std::vector<std::string> out;
  auto alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  for (std::size_t i = 0; i + 2 < message.size(); ++i) {
    if (message[i] != 'i' || message[i + 1] != '-' || (i > 0 && alnum(message[i - 1]))) continue;
    std::size_t j = i + 2;
    while (j < message.size() && alnum(message[j])) ++j;
    if (j > i + 2) out.push_back(message.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

std::string token_prefix(const std::string& idempotency_token) {
  return "rc" + sha256_hex(idempotency_token).substr(0, 32) + "-";
}

std::string client_token(const std::string& idempotency_token, const std::string& subnet_id,
                         int count) {
  // 35 + 16 characters. The count is part of it so that a create() retried
  // after part of its batch launched asks for the rest under a new token
  // instead of repeating the first call with other parameters.
  return token_prefix(idempotency_token) +
         sha256_hex(idempotency_token + "|" + subnet_id + "|" + std::to_string(count)).substr(0, 16);
}

AwsProvider::AwsProvider(const ClusterSpec& spec, ClusterIdentity identity, ProviderContext context)
    : spec_(spec),
      identity_(std::move(identity)),
      ctx_(context.with_defaults()),
      cooldown_(ctx_.now, ctx_.settings.capacity_cooldown) {
  const AwsEnvironment env = to_aws_environment(ctx_.env);
  auto explicit_region = spec_.provider.region.empty()
                             ? std::optional<std::string>()
                             : std::optional<std::string>(spec_.provider.region);
  auto region = resolve_aws_region(env, explicit_region);
  if (!region || region->empty()) {
    auto at = spec_.origin("provider");
    throw Error(ErrorCode::config,
                (at.file.empty() ? std::string() : at.file + ": ") +
                    "provider.region is not set and no AWS region is configured "
                    "(AWS_REGION, AWS_DEFAULT_REGION or the profile's region)");
  }
  region_ = *region;
  auto explicit_url = spec_.provider.endpoint_url.empty()
                          ? std::optional<std::string>()
                          : std::optional<std::string>(spec_.provider.endpoint_url);
  auto url = resolve_aws_endpoint_url(env, "ec2", explicit_url);
  std::string endpoint =
      url ? *url
          : "https://ec2." + region_ + ".amazonaws.com" + (region_.rfind("cn-", 0) == 0 ? ".cn" : "");

  transport_ = ctx_.transport;
  if (!transport_) {
    CurlTransportOptions to;
    if (auto ca = resolve_aws_ca_bundle(env)) {
      if (!is_regular_file(*ca))
        throw Error(ErrorCode::config, "the CA bundle " + *ca +
                                           " (AWS_CA_BUNDLE or the profile's ca_bundle) is not "
                                           "a readable file");
      to.ca_bundle = *ca;
    }
    transport_ = make_curl_transport(to);
  }
  RetryPolicy policy = ctx_.retry;
  policy.is_throttle = is_throttle_response;
  // No capacity in a zone: the provider moves on to the next one at once.
  policy.is_final = is_capacity_response;
  RetryingTransport::Deps rd;
  rd.sleep = ctx_.sleep;
  rd.random = ctx_.random;
  rd.now = ctx_.now;
  retrying_ = std::make_unique<RetryingTransport>(*transport_, policy, rd);
  ClientOptions co;
  co.endpoint = endpoint;
  co.region = region_;
  co.now = ctx_.now;
  // The context's source, else the chain (static, container, instance role)
  // read through the provider's own transport.
  co.credentials = ctx_.aws_credentials
                       ? ctx_.aws_credentials
                       : make_aws_credentials_source(env, *transport_, ctx_.now, ctx_.sleep);
  credentials_ = co.credentials;
  client_ = std::make_unique<Client>(*retrying_, co);
}

AwsProvider::~AwsProvider() = default;

std::vector<std::string> AwsProvider::warnings() const {
  const std::string& url = client_->endpoint();
  const std::string host = url_host(url);
  if (url.rfind("http://", 0) != 0 || host == "localhost" || is_loopback_address(host)) return {};
  return {"the EC2 endpoint " + url +
          " is plain http: every request, its signature and the session token (if the "
          "credentials have one) cross the network unencrypted; use an https:// endpoint"};
}

std::string AwsProvider::key_file_for(const std::string& name) const {
  return identity_.state_dir + "/" + name + ".pem";
}

std::string AwsProvider::key_name() const {
  std::lock_guard<std::mutex> lock(mu_);
  return key_name_.empty() ? spec_.provider.key_name : key_name_;
}

std::string AwsProvider::key_path() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!key_path_.empty()) return key_path_;
  }
  if (!spec_.auth.ssh_private_key.empty()) return spec_.auth.ssh_private_key;
  // A key pair an earlier `up` created; see ensure_key_pair().
  const std::string base = "raycluster_" + spec_.cluster_name + "_" + region_;
  for (int i = 1; i <= 10; ++i) {
    std::string f = key_file_for(i == 1 ? base : base + "_" + std::to_string(i));
    if (path_exists(f)) return f;
  }
  return {};
}

std::string AwsProvider::security_group_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sg_id_;
}

std::vector<Placement> AwsProvider::placements(const std::string& node_type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = launch_.find(node_type);
  return it == launch_.end() ? std::vector<Placement>{} : it->second.placements;
}

std::string AwsProvider::image_for(const std::string& node_type) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = launch_.find(node_type);
  return it == launch_.end() ? std::string() : it->second.image_id;
}

std::map<std::string, std::string> AwsProvider::foreign_instances() const {
  std::lock_guard<std::mutex> lock(mu_);
  return foreign_;
}

std::vector<Instance> AwsProvider::describe_cluster(const std::vector<std::string>& states,
                                                    const CancelToken& cancel) {
  QueryParams base;
  add_filter(base, 1, std::string("tag:") + tags::cluster_name, {spec_.cluster_name});
  add_filter(base, 2, "instance-state-name", states);
  base.emplace_back("MaxResults", "1000");
  std::vector<Instance> out;
  std::string next;
  do {
    QueryParams p = base;
    if (!next.empty()) p.emplace_back("NextToken", next);
    // Parsed while it arrives: the answer's XML is never held whole.
    InstanceStream stream;
    client_->call_streaming("DescribeInstances", p, stream.sink(), cancel);
    auto page = stream.finish();
    if (out.empty())
      out = std::move(page.instances);
    else
      std::move(page.instances.begin(), page.instances.end(), std::back_inserter(out));
    next = std::move(page.next_token);
  } while (!next.empty());
  return out;
}

std::vector<Instance> AwsProvider::describe_ids(const std::vector<std::string>& ids) {
  // A filter, not InstanceId.N: unknown ids are then simply absent instead
  // of failing the whole call.
  std::vector<Instance> out;
  for (const auto& chunk : chunks(ids, kFilterValues)) {
    std::string next;
    do {
      QueryParams p;
      add_filter(p, 1, "instance-id", chunk);
      if (!next.empty()) p.emplace_back("NextToken", next);
      InstanceStream stream;
      client_->call_streaming("DescribeInstances", p, stream.sink());
      auto page = stream.finish();
      std::move(page.instances.begin(), page.instances.end(), std::back_inserter(out));
      next = std::move(page.next_token);
    } while (!next.empty());
  }
  return out;
}

std::vector<std::string> AwsProvider::cluster_ids_in_use(const CancelToken& cancel) {
  std::set<std::string> ids;
  for (const auto& in : describe_cluster({"pending", "running", "stopping", "stopped"}, cancel))
    if (const std::string* id = in.tag(tags::cluster_id)) ids.insert(*id);
  return {ids.begin(), ids.end()};
}

std::vector<Instance> AwsProvider::ours(std::vector<Instance> all) {
  std::map<std::string, std::string> foreign;
  std::vector<Instance> out;
  for (auto& in : all) {
    const std::string* id = in.tag(tags::cluster_id);
    if (id && *id != identity_.id) {
      foreign[in.id] = *id;
      continue;
    }
    out.push_back(std::move(in));
  }
  std::lock_guard<std::mutex> lock(mu_);
  foreign_ = std::move(foreign);
  return out;
}

Node AwsProvider::to_node(const Instance& in) const {
  Node n;
  n.id = in.id;
  for (const auto& [k, v] : in.tags) n.tags[k] = v;
  auto kind = n.tags.find(tags::node_kind);
  n.kind = kind != n.tags.end() && kind->second == "head" ? NodeKind::head : NodeKind::worker;
  auto type = n.tags.find(tags::user_node_type);
  if (type != n.tags.end()) n.node_type = type->second;
  n.state = state_of(in.state);
  n.internal_ip = in.private_ip;
  n.external_ip = in.public_ip;
  n.launch_time = in.launch_time;
  return n;
}

std::vector<Node> AwsProvider::list(const Tags& filter) {
  std::vector<Node> nodes;
  for (const auto& in : ours(describe_cluster({"pending", "running"}))) nodes.push_back(to_node(in));
  // Instances launched by `ray up` carry no cluster id; they belong to the
  // cluster of that name.
  return select_nodes(std::move(nodes), filter, UntaggedClusterId::included);
}

std::vector<Instance> AwsProvider::run_instances(const LaunchRequest& request,
                                                 const TypeLaunch& launch, int count,
                                                 const std::string& token) {
  const NodeTypeSpec& type = *request.node_type;
  Value config = without(type.node_config, {"SubnetIds", "SubnetId"});
  const Value* nics = config.find("NetworkInterfaces");
  const bool has_nics = nics && nics->is_array() && nics->size() > 0;
  if (!config.find("ImageId") && !launch.image_id.empty()) config.set("ImageId", launch.image_id);
  if (!config.find("KeyName") && !launch.key_name.empty()) config.set("KeyName", launch.key_name);
  if (!launch.security_groups.empty()) {
    Value groups = Value::array();
    for (const auto& g : launch.security_groups) groups.push(g);
    if (has_nics) {
      for (auto& nic : config.find("NetworkInterfaces")->as_array())
        if (nic.is_object() && !nic.find("Groups")) nic.set("Groups", groups);
    } else if (!config.find("SecurityGroupIds")) {
      config.set("SecurityGroupIds", groups);
    }
  }
  Tags tags;
  for (const auto& [k, v] : request.tags)
    if (!v.empty()) tags[k] = v;
  const std::string display = "ray-" + spec_.cluster_name + "-" + node_kind_name(request.kind);
  if (!tags.count("Name")) tags["Name"] = display;
  if (!tags.count(tags::node_name)) tags[tags::node_name] = display;
  config.set("TagSpecifications", merged_tag_specifications(type.node_config.find("TagSpecifications"), tags));
  config.set("MinCount", count);
  config.set("MaxCount", count);
  // The head gets the role prepare_head_identity() made, when the config names none.
  const std::string profile = request.kind == NodeKind::head ? head_instance_profile() : "";
  const bool with_profile = !profile.empty() && !config.find("IamInstanceProfile");
  if (with_profile) {
    Value p = Value::object();
    p.set("Name", profile);
    config.set("IamInstanceProfile", std::move(p));
  }
  std::string instance_type;
  if (const Value* t = config.find("InstanceType"); t && t->is_string()) instance_type = t->as_string();

  // Zones that recently had no capacity for this type go last.
  std::vector<Placement> order =
      request.kind == NodeKind::head ? head_placements(launch.placements) : launch.placements;
  if (order.empty()) order.push_back({});
  cooldown_.order(order, instance_type,
                  [](const Placement& p) -> const std::string& { return p.zone; });
  std::vector<std::string> tried;
  std::string last_request_id;
  for (const auto& place : order) {
    Value attempt = config;
    if (!place.subnet_id.empty() && !has_nics) attempt.set("SubnetId", place.subnet_id);
    attempt.set("ClientToken", client_token(token, place.subnet_id, count));
    QueryParams params;
    encode_node_config(attempt, config_path(type), {}, params);
    try {
      std::string body = launch_call(params, with_profile);
      return parse_instances(body).instances;
    } catch (const Ec2Error& e) {
      if (!is_zone_capacity_code(e.aws_code())) throw;
      cooldown_.mark(place.zone, instance_type);
      tried.push_back((place.zone.empty() ? place.subnet_id : place.zone) + " (" + e.aws_code() + ")");
      last_request_id = e.request_id();
    }
  }
  throw Error(ErrorCode::capacity,
              "EC2 had no capacity for " + std::to_string(count) + " " +
                  (instance_type.empty() ? std::string("instance(s)") : instance_type) + " of type " +
                  type.name + " in any zone tried: " + join(tried, ", "),
              true, last_request_id);
}

std::vector<Node> AwsProvider::create(const LaunchRequest& request) {
  if (!request.node_type) throw Error(ErrorCode::invalid_argument, "create: no node type");
  if (request.count <= 0) return {};
  TypeLaunch launch;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!bootstrapped_) {
      lock.unlock();
      bootstrap({}, {});
      lock.lock();
    }
    auto it = launch_.find(request.node_type->name);
    if (it == launch_.end())
      throw Error(ErrorCode::invalid_argument,
                  "create: node type " + request.node_type->name + " is not in the config");
    launch = it->second;
  }
  const std::string token =
      request.idempotency_token.empty() ? random_hex(16) : request.idempotency_token;
  const std::string prefix = token_prefix(token);
  const bool reuse = spec_.provider.cache_stopped_nodes && !is_spot(*request.node_type);

  std::vector<std::string> states = {"pending", "running"};
  if (reuse) states.push_back("stopped");
  auto existing = ours(describe_cluster(states));
  LaunchBatch batch(request);
  // Instances an earlier call with this token launched count toward the batch
  // (every RunInstances of one request carries a ClientToken with its prefix).
  for (const auto& in : existing)
    if (in.state != "stopped" && in.client_token.rfind(prefix, 0) == 0) batch.add(to_node(in));
  if (batch.remaining() == 0) return batch.take();

  if (reuse) {
    std::vector<Node> stopped;
    for (const auto& in : existing)
      if (in.state == "stopped") stopped.push_back(to_node(in));
    auto restart = reusable_stopped(stopped, request, batch.remaining());
    if (!restart.empty()) {
      std::vector<std::string> ids;
      for (const auto& n : restart) ids.push_back(n.id);
      start_stop("StartInstances", ids);
      set_tags(ids, request.tags);
      for (auto& n : restart) batch.add(restarted(std::move(n), request));
    }
  }

  if (int remaining = batch.remaining(); remaining > 0)
    for (const auto& in : run_instances(request, launch, remaining, token)) batch.add(to_node(in));
  return batch.take();
}

void AwsProvider::start_stop(const char* action, const std::vector<std::string>& ids) {
  for (const auto& chunk : chunks(ids, kIdsPerCall)) {
    QueryParams p;
    add_list(p, "InstanceId", chunk);
    client_->call(action, p);
  }
}

void AwsProvider::terminate_ids(const std::vector<std::string>& ids,
                                std::vector<std::string>* failures) {
  for (auto chunk : chunks(ids, kIdsPerCall)) {
    // Unknown ids are ignored: EC2 names them, they go, the rest is sent again.
    for (int round = 0; !chunk.empty(); ++round) {
      QueryParams p;
      add_list(p, "InstanceId", chunk);
      try {
        client_->call("TerminateInstances", p);
        break;
      } catch (const Ec2Error& e) {
        if (e.code() == ErrorCode::not_found && round < 3) {
          auto gone = ids_in(e.what());
          auto before = chunk.size();
          chunk.erase(std::remove_if(chunk.begin(), chunk.end(),
                                     [&](const std::string& id) {
                                       return std::find(gone.begin(), gone.end(), id) != gone.end();
                                     }),
                      chunk.end());
          if (chunk.size() < before) continue;
        }
        if (!failures) throw;
        // One by one, to tell which of them cannot be ended.
        for (const auto& id : chunk) {
          QueryParams one;
          one.emplace_back("InstanceId.1", id);
          try {
            client_->call("TerminateInstances", one);
          } catch (const Ec2Error& e1) {
            // Retryable failures are tried again by the caller's next round.
            if (e1.code() != ErrorCode::not_found && !e1.retryable())
              failures->push_back(id + ": " + e1.what());
          }
        }
        break;
      }
    }
  }
}

void AwsProvider::terminate(const std::vector<std::string>& node_ids) {
  if (node_ids.empty()) return;
  if (!spec_.provider.cache_stopped_nodes) {
    terminate_ids(node_ids, nullptr);
    return;
  }
  // cache_stopped_nodes: on-demand workers are stopped for a later create()
  // to restart; spot instances cannot be stopped and heads are not cached.
  std::vector<std::string> stop, end;
  for (const auto& in : describe_ids(node_ids)) {
    if (in.state == "shutting-down" || in.state == "terminated") continue;
    const std::string* kind = in.tag(tags::node_kind);
    bool worker = kind && *kind == "worker";
    if (worker && in.lifecycle != "spot") {
      if (in.state == "pending" || in.state == "running") stop.push_back(in.id);
    } else {
      end.push_back(in.id);
    }
  }
  if (!stop.empty()) start_stop("StopInstances", stop);
  if (!end.empty()) terminate_ids(end, nullptr);
}

void AwsProvider::set_tags(const std::vector<std::string>& node_ids, const Tags& tags) {
  if (node_ids.empty() || tags.empty()) return;
  tags_.set(node_ids, tags);
}

void AwsProvider::commit_tags(const std::vector<TagBatcher::Update>& batch) {
  // One CreateTags per distinct set of tags (and one DeleteTags per distinct
  // set of removals), ids in chunks. The calls of one commit go out at once:
  // every node waiting on this commit waits for the slowest call only.
  std::vector<std::function<void()>> calls;
  for (const auto& group : TagBatcher::group(batch)) {
    if (!group.set.empty()) {
      QueryParams p;
      int n = 0;
      for (const auto& [k, v] : group.set) {
        std::string t = "Tag." + std::to_string(++n);
        p.emplace_back(t + ".Key", k);
        p.emplace_back(t + ".Value", v);
      }
      calls.push_back([this, ids = group.ids, p] { tag_call("CreateTags", ids, p); });
    }
    if (!group.remove.empty()) {
      QueryParams p;
      for (std::size_t i = 0; i < group.remove.size(); ++i)
        p.emplace_back("Tag." + std::to_string(i + 1) + ".Key", group.remove[i]);
      calls.push_back([this, ids = group.ids, p] { tag_call("DeleteTags", ids, p); });
    }
  }
  if (calls.size() == 1) return calls.front()();
  std::vector<std::future<void>> running;
  for (auto& c : calls) running.push_back(std::async(std::launch::async, c));
  std::exception_ptr first;
  for (auto& r : running) {
    try {
      r.get();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

void AwsProvider::tag_call(const char* action, const std::vector<std::string>& ids,
                           const QueryParams& tag_params) {
  for (const auto& chunk : chunks(ids, kIdsPerCall)) {
    QueryParams p;
    add_list(p, "ResourceId", chunk);
    p.insert(p.end(), tag_params.begin(), tag_params.end());
    // Right after RunInstances an instance may not be visible to CreateTags
    // yet (EC2 is eventually consistent): wait a little for it.
    milliseconds delay(500);
    for (int attempt = 1;; ++attempt) {
      try {
        client_->call(action, p);
        break;
      } catch (const Ec2Error& e) {
        if (e.aws_code() != "InvalidInstanceID.NotFound" || attempt >= 5) throw;
        ctx_.sleep(delay, {});
        delay *= 2;
      }
    }
  }
}

std::unique_ptr<CommandRunner> AwsProvider::command_runner(const Node& node) {
  const bool internal = spec_.provider.use_internal_ips;
  std::string host = internal ? node.internal_ip : node.external_ip;
  if (host.empty())
    // Empty right after a launch too: EC2's listings catch up within seconds.
    host = wait_for_address(
        ctx_, node.id, internal, {"private", "public", "in a subnet without public addresses"},
        [&]() -> std::string {
          auto found = describe_ids({node.id});
          if (found.empty()) return {};
          const auto& in = found.front();
          if (in.state == "shutting-down" || in.state == "terminated")
            throw Error(ErrorCode::not_found, "instance " + node.id + " is " + in.state);
          return internal ? in.private_ip : in.public_ip;
        });
  // The key pair bootstrap made (or found) when the config names no key.
  return cloud_node_runner(spec_, identity_, host, ctx_.env, key_path());
}

void AwsProvider::teardown(const EventSink& events, const CancelToken& cancel) {
  auto note = [&](LogLevel level, const std::string& msg) { log_event(events, level, msg); };
  const auto deadline = ctx_.now() + ctx_.settings.teardown_timeout;
  milliseconds delay(1000);
  std::map<std::string, std::string> refused;  // id -> why (not retryable)
  for (;;) {
    cancel.throw_if_cancelled();
    // Stopped (cached) nodes too: a full down ends everything.
    auto left = ours(describe_cluster({"pending", "running", "stopping", "stopped"}, cancel));
    std::vector<std::string> ids;
    for (const auto& in : left) ids.push_back(in.id);
    if (ids.empty()) {
      // Nothing is left to match: the next `up` picks the newest image.
      std::remove(image_pin_path().c_str());
      break;
    }
    bool all_refused = std::all_of(ids.begin(), ids.end(),
                                   [&](const std::string& id) { return refused.count(id) > 0; });
    if (all_refused || ctx_.now() >= deadline) {
      std::string msg = std::to_string(ids.size()) + " instance(s) of cluster " + spec_.cluster_name +
                        " could not be terminated:";
      for (const auto& id : ids)
        msg += "\n  " + id + (refused.count(id) ? " (" + refused[id] + ")" : " (still not terminating)");
      throw Error(all_refused ? ErrorCode::invalid_request : ErrorCode::timeout, msg);
    }
    note(LogLevel::info, "terminating " + std::to_string(ids.size()) + " remaining instance(s)");
    std::vector<std::string> failures;
    terminate_ids(ids, &failures);
    for (const auto& f : failures) {
      auto colon = f.find(": ");
      refused[f.substr(0, colon)] = f.substr(colon + 2);
    }
    if (!ctx_.sleep(delay, cancel)) throw Error(ErrorCode::cancelled, "down cancelled");
    delay = std::min(delay * 2, milliseconds(15000));
  }
  remove_head_identity(events, cancel);
  auto foreign = foreign_instances();
  if (!foreign.empty()) {
    std::string msg = std::to_string(foreign.size()) + " instance(s) tagged " +
                      tags::cluster_name + "=" + spec_.cluster_name + " belong to another " +
                      tags::cluster_id + " than this state folder's (" + identity_.id + ", " +
                      identity_.state_dir + ") and were left running:";
    for (const auto& [id, other] : foreign) msg += "\n  " + id + " (" + tags::cluster_id + "=" + other + ")";
    msg += "\nThey were launched from another state folder; end them from there or with the "
           "EC2 console.";
    // A folder made by this very command cannot have launched anything, so
    // nothing it was asked to end has ended: that is a failure. Otherwise
    // this folder's cluster is down, and the others are only named.
    if (identity_.fresh) throw Error(ErrorCode::conflict, msg);
    note(LogLevel::warning, msg);
  }
}

}  // namespace raycluster::detail::ec2
