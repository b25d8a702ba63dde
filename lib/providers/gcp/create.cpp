// GcpProvider: launching (bulkInsert / insert with zone failover), stopping,
// deleting and labelling instances.
#include <algorithm>
#include <set>

#include "providers/common/launch.hpp"
#include "providers/gcp/gcp_provider.hpp"
#include "providers/gcp/labels.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::gce {
namespace {

using std::chrono::milliseconds;

std::string str(const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); }

std::string bare(const std::string& s) { return s.substr(s.rfind('/') + 1); }

// Ray's examples write scheduling as a list of one-key maps; Compute takes
// one object.
Value scheduling_object(const Value& v) {
  if (!v.is_array()) return v;
  Value out = Value::object();
  for (const auto& part : v.as_array())
    if (part.is_object())
      for (const auto& [k, x] : part.as_object()) out.set(k, x);
  return out;
}

// {items: [{key, value}]} with ssh-keys extended by `ssh_key_line`.
Value merged_metadata(const Value* user, const std::string& ssh_key_line) {
  Value items = Value::array();
  bool have_keys = false;
  if (user && user->is_object())
    if (const Value* list = user->find("items"); list && list->is_array())
      for (const auto& item : list->as_array()) {
        if (str(item.find("key")) == "ssh-keys" && !ssh_key_line.empty()) {
          Value x = Value::object();
          x.set("key", "ssh-keys");
          std::string v = str(item.find("value"));
          x.set("value", v.empty() ? ssh_key_line : v + "\n" + ssh_key_line);
          items.push(std::move(x));
          have_keys = true;
        } else {
          items.push(item);
        }
      }
  if (!have_keys && !ssh_key_line.empty()) {
    Value x = Value::object();
    x.set("key", "ssh-keys");
    x.set("value", ssh_key_line);
    items.push(std::move(x));
  }
  Value out = Value::object();
  if (user && user->is_object())
    for (const auto& [k, v] : user->as_object())
      if (k != "items") out.set(k, v);
  out.set("items", std::move(items));
  return out;
}

}  // namespace

Value GcpProvider::instance_properties(const LaunchRequest& request, const std::string& zone,
                                       bool bulk, const std::string& launch_label) const {
  const NodeTypeSpec& type = *request.node_type;
  Value body = Value::object();
  if (type.node_config.is_object())
    for (const auto& [k, v] : type.node_config.as_object())
      if (k != "sourceInstanceTemplate") body.set(k, v);
  if (const Value* mt = body.find("machineType"); mt && mt->is_string()) {
    std::string t = bare(mt->as_string());
    body.set("machineType", bulk ? t : "zones/" + zone + "/machineTypes/" + t);
  }
  if (const Value* s = body.find("scheduling")) body.set("scheduling", scheduling_object(*s));

  // Labels: the node_config's, the cluster's `labels`, then Ray's tags and ours.
  std::map<std::string, std::string> labels;
  if (const Value* l = type.node_config.find("labels"); l && l->is_object())
    for (const auto& [k, v] : l->as_object())
      if (v.is_string()) labels[k] = v.as_string();
  for (const auto& [k, v] : to_labels(spec_.tags)) labels[k] = v;
  Tags ours;
  for (const auto& [k, v] : request.tags)
    if (!v.empty()) ours[k] = v;
  const std::string display = "ray-" + spec_.cluster_name + "-" + node_kind_name(request.kind);
  if (!ours.count(tags::node_name)) ours[tags::node_name] = display;
  ours[tags::cluster_name] = spec_.cluster_name;
  ours[tags::cluster_id] = identity_.id;
  for (const auto& [k, v] : to_labels(ours)) labels[k] = v;
  labels[kLaunchLabel] = launch_label;
  Value lv = Value::object();
  for (const auto& [k, v] : labels) lv.set(k, v);
  body.set("labels", std::move(lv));

  std::string key_line;
  {
    std::lock_guard<std::mutex> lock(mu_);
    key_line = ssh_key_line_;
  }
  body.set("metadata", merged_metadata(type.node_config.find("metadata"), key_line));
  if (request.kind == NodeKind::head && !body.find("serviceAccounts"))
    if (Value sa = head_service_accounts(); !sa.is_null()) body.set("serviceAccounts", std::move(sa));

  Value items = Value::array();
  if (const Value* t = type.node_config.find("tags"); t && t->is_object())
    if (const Value* it = t->find("items"); it && it->is_array())
      for (const auto& x : it->as_array())
        if (!(x.is_string() && x.as_string() == net_tag_)) items.push(x);
  items.push(net_tag_);
  Value tv = Value::object();
  if (const Value* t = type.node_config.find("tags"); t && t->is_object())
    for (const auto& [k, v] : t->as_object())
      if (k != "items") tv.set(k, v);
  tv.set("items", std::move(items));
  body.set("tags", std::move(tv));

  if (!body.find("networkInterfaces") && !type.node_config.find("sourceInstanceTemplate")) {
    Value nic = Value::object();
    nic.set("network", network_);
    if (!subnetwork_.empty()) nic.set("subnetwork", subnetwork_);
    if (!spec_.provider.use_internal_ips) {
      Value ac = Value::object();
      ac.set("type", "ONE_TO_ONE_NAT");
      ac.set("name", "External NAT");
      Value acs = Value::array();
      acs.push(std::move(ac));
      nic.set("accessConfigs", std::move(acs));
    }
    Value nics = Value::array();
    nics.push(std::move(nic));
    body.set("networkInterfaces", std::move(nics));
  }
  return body;
}

std::vector<Instance> GcpProvider::launch_in_zone(const LaunchRequest& request, int count,
                                                  const std::string& launch_seed,
                                                  const std::string& label,
                                                  const std::string& zone) {
  const NodeTypeSpec& type = *request.node_type;
  // Same launch, zone and count: same names and requestId, so a call that is
  // sent again (its answer lost) never launches twice.
  const std::string seed = launch_seed + "|" + zone + "|" + std::to_string(count);
  const std::string suffix = sha256_hex(seed).substr(0, 8);
  const std::string base =
      "ray-" + name_part(spec_.cluster_name, 24) + "-" + node_kind_name(request.kind) + "-" + suffix;
  const std::string zpath = "zones/" + query_encode(zone) + "/instances";
  const std::string template_link = str(type.node_config.find("sourceInstanceTemplate"));
  Value op;
  if (request.kind == NodeKind::head && count == 1) {
    Value body = instance_properties(request, zone, false, label);
    body.set("name", base);
    std::string path = zpath + "?requestId=" + uuid_from(seed + "|insert");
    if (!template_link.empty()) path += "&sourceInstanceTemplate=" + query_encode(template_link);
    op = client_->call("POST", path, &body);
  } else {
    Value body = Value::object();
    body.set("count", std::to_string(count));
    body.set("minCount", std::to_string(count));
    body.set("namePattern", base + "-####");
    body.set("instanceProperties", instance_properties(request, zone, true, label));
    if (!template_link.empty()) body.set("sourceInstanceTemplate", template_link);
    op = client_->call("POST", zpath + "/bulkInsert?requestId=" + uuid_from(seed + "|bulk"), &body);
  }
  client_->wait(op, progress_to(request.events, "launching " + std::to_string(count) + " " +
                                                    type.name + " node(s) in " + zone));
  std::map<std::string, std::string> wanted = {{kLaunchLabel, label}};
  wanted[tags::cluster_name] = encode_label_value(tags::cluster_name, spec_.cluster_name);
  std::vector<Instance> made = list_zone(zone, label_filter(wanted), {});
  remember(made);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& in : made) zone_by_name_[in.name] = in.zone.empty() ? zone : in.zone;
  return made;
}

std::vector<Instance> GcpProvider::launch(const LaunchRequest& request, int count,
                                          const std::string& seed, const std::string& label) {
  const NodeTypeSpec& type = *request.node_type;
  const std::string machine = bare(str(type.node_config.find("machineType")));
  std::vector<std::string> order = zones_;
  cooldown_.order(order, machine, [](const std::string& z) -> const std::string& { return z; });
  std::vector<std::string> tried;
  for (std::size_t i = 0, rate_limited = 0; i < order.size();) {
    const std::string& zone = order[i];
    try {
      // An operation refused for its rate has no effect: the next try gets
      // a requestId of its own.
      const std::string attempt = rate_limited == 0 ? seed : seed + "~" + std::to_string(rate_limited);
      return launch_in_zone(request, count, attempt, label, zone);
    } catch (const GceError& e) {
      // RESOURCE_OPERATION_RATE_EXCEEDED on the operation, which the HTTP
      // layer never sees: wait and try the same zone again, a few times.
      if (e.code() == ErrorCode::throttled && e.status() == 0 && rate_limited < kOperationRetries) {
        ++rate_limited;
        if (!ctx_.sleep(std::chrono::milliseconds(1000) * (1 << rate_limited), {}))
          throw Error(ErrorCode::cancelled, "cancelled");
        continue;
      }
      ++i;
      rate_limited = 0;
      if (e.code() == ErrorCode::quota)
        throw Error(ErrorCode::quota,
                    "GCP refused " + std::to_string(count) + " " + machine + " of type " +
                        type.name + " in " + zone + " for lack of quota: " + e.what() +
                        " (raise the quota named, or ask for fewer nodes)");
      if (e.code() != ErrorCode::capacity) throw;
      cooldown_.mark(zone, machine);
      tried.push_back(zone + " (" + e.reason() + ")");
    }
  }
  throw Error(ErrorCode::capacity,
              "GCP had no capacity for " + std::to_string(count) + " " + machine + " of type " +
                  type.name + " in any zone tried: " + join(tried, ", "),
              true);
}

std::vector<Node> GcpProvider::create(const LaunchRequest& request) {
  if (!request.node_type) throw Error(ErrorCode::invalid_argument, "create: no node type");
  if (request.count <= 0) return {};
  if (!spec_.find_node_type(request.node_type->name))
    throw Error(ErrorCode::invalid_argument,
                "create: node type " + request.node_type->name + " is not in the config");
  if (is_gcp_tpu_node_config(request.node_type->node_config))
    throw Error(ErrorCode::unsupported, "node type " + request.node_type->name +
                                            " is a TPU node: TPU nodes are not supported yet");
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!bootstrapped_) {
      lock.unlock();
      bootstrap({}, {});
    }
  }
  const std::string token =
      request.idempotency_token.empty() ? random_hex(16) : request.idempotency_token;
  const std::string label = sha256_hex(token).substr(0, 16);
  auto existing = ours(list_instances());
  LaunchBatch batch(request);
  // Instances an earlier call with this token launched count toward the batch.
  for (const auto& in : existing) {
    auto it = in.labels.find(kLaunchLabel);
    if (it != in.labels.end() && it->second == label && alive_status(in.status)) batch.add(to_node(in));
  }
  if (batch.remaining() == 0) return batch.take();
  if (cache_stopped_) {
    std::vector<Node> stopped;
    for (const auto& in : existing)
      if (in.status == "TERMINATED") stopped.push_back(to_node(in));
    auto restart = reusable_stopped(stopped, request, batch.remaining());
    if (!restart.empty()) {
      std::vector<std::string> ids;
      for (const auto& n : restart) ids.push_back(n.id);
      parallel_for(ids.size(), kParallelCalls, [&](std::size_t i) { instance_action(ids[i], "start"); });
      set_tags(ids, request.tags);
      for (auto& n : restart) batch.add(restarted(std::move(n), request));
    }
  }
  std::set<std::string> have;
  for (const auto& in : existing) have.insert(in.name);
  for (int chunk = 0; batch.remaining() > 0; ++chunk) {
    const int n = std::min(batch.remaining(), kBulkLimit);
    const std::string seed = chunk == 0 ? token : token + "#" + std::to_string(chunk);
    // The listing after a launch shows every instance of the request.
    int added = 0;
    for (const auto& in : launch(request, n, seed, label))
      if (have.insert(in.name).second && batch.add(to_node(in))) ++added;
    if (added == 0) break;
  }
  return batch.take();
}

void GcpProvider::instance_action(const std::string& name, const std::string& action) {
  const std::string zone = zone_of(name);
  if (zone.empty()) return;  // gone
  const std::string path = "zones/" + query_encode(zone) + "/instances/" + query_encode(name);
  try {
    Value op = action == "delete" ? client_->call("DELETE", path)
                                  : client_->call("POST", path + "/" + action);
    if (action == "start") client_->wait(op);
  } catch (const GceError& e) {
    if (e.code() != ErrorCode::not_found) throw;
    std::lock_guard<std::mutex> lock(mu_);
    zone_by_name_.erase(name);
  }
}

void GcpProvider::terminate(const std::vector<std::string>& node_ids) {
  if (node_ids.empty()) return;
  std::vector<std::pair<std::string, std::string>> actions;  // name, action
  if (!cache_stopped_) {
    for (const auto& id : node_ids) actions.emplace_back(id, "delete");
  } else {
    // cache_stopped_nodes: workers are stopped for a later create() to
    // start again; heads are deleted.
    std::set<std::string> wanted(node_ids.begin(), node_ids.end());
    for (const auto& in : list_instances()) {
      if (!wanted.count(in.name)) continue;
      auto kind = in.labels.find(tags::node_kind);
      bool worker = kind != in.labels.end() && kind->second == "worker";
      if (!worker) actions.emplace_back(in.name, "delete");
      else if (in.status != "TERMINATED" && in.status != "STOPPING") actions.emplace_back(in.name, "stop");
    }
  }
  parallel_for(actions.size(), kParallelCalls,
               [&](std::size_t i) { instance_action(actions[i].first, actions[i].second); });
  forget(node_ids);
}

void GcpProvider::set_tags(const std::vector<std::string>& node_ids, const Tags& tags) {
  if (node_ids.empty() || tags.empty()) return;
  tags_.set(node_ids, tags);
}

void GcpProvider::commit_tags(const std::vector<TagBatcher::Update>& batch) {
  // setLabels takes one instance at a time: the calls of a commit go out together.
  std::vector<std::pair<std::string, const TagBatcher::Group*>> work;
  auto groups = TagBatcher::group(batch);
  for (const auto& g : groups)
    for (const auto& id : g.ids) work.emplace_back(id, &g);
  // Nodes written since the last listing need their new labelFingerprint:
  // one listing (500 instances a page) tells it for all of them, a get each
  // for a few.
  std::size_t stale = 0, known = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    known = known_.size();
    for (const auto& w : work) {
      auto k = known_.find(w.first);
      if (k == known_.end() || k->second.label_fingerprint.empty() || writes_.count(w.first)) ++stale;
    }
  }
  if (stale >= 2 && stale * 500 >= known) list_instances();
  parallel_for(work.size(), kParallelCalls, [&](std::size_t i) {
    set_labels(work[i].first, work[i].second->set, work[i].second->remove);
  });
}

}  // namespace raycluster::detail::gce
