#include "providers/gcp/gcp_provider.hpp"

#include <algorithm>
#include <ctime>
#include <set>

#include "auth/gcp_credentials.hpp"
#include "providers/common/launch.hpp"
#include "providers/common/ssh_nodes.hpp"
#include "providers/common/tag_filter.hpp"
#include "providers/gcp/instance_list.hpp"
#include "providers/gcp/labels.hpp"
#include "ssh/ssh.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::gce {
namespace {

using std::chrono::milliseconds;

std::string str(const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); }

std::string last_part(const std::string& s) { return s.substr(s.rfind('/') + 1); }

}  // namespace

CloudState state_of(const std::string& s) {
  if (s == "RUNNING") return CloudState::running;
  if (s == "STOPPING" || s == "SUSPENDING") return CloudState::stopping;
  if (s == "TERMINATED" || s == "SUSPENDED") return CloudState::stopped;  // GCE's "stopped"
  return CloudState::pending;  // PROVISIONING, STAGING, REPAIRING
}

bool alive_status(const std::string& s) { return state_of(s) == CloudState::pending || s == "RUNNING"; }

namespace {

// RFC 3339 ("2026-12-03T05:14:00.123-08:00") as a time point; epoch when unreadable.
std::chrono::system_clock::time_point parse_time(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) return {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  long offset = 0;
  auto tz = s.find_first_of("Zz+-", 19);
  if (tz != std::string::npos && s[tz] != 'Z' && s[tz] != 'z') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + tz + 1, "%2d:%2d", &oh, &om) == 2)
      offset = (s[tz] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm) - offset);
}

}  // namespace

const std::vector<std::string>& allowed_node_config_keys() {
  static const std::vector<std::string> keys = {
      "advancedMachineFeatures", "canIpForward", "confidentialInstanceConfig", "description",
      "disks", "displayDevice", "guestAccelerators", "keyRevocationActionType", "labels",
      "machineType", "metadata", "minCpuPlatform", "networkInterfaces",
      "networkPerformanceConfig", "privateIpv6GoogleAccessType", "reservationAffinity",
      "resourceManagerTags", "resourcePolicies", "scheduling", "serviceAccounts",
      "shieldedInstanceConfig", "tags", "sourceInstanceTemplate"};
  return keys;
}

Instance parse_instance(const Value& item) {
  Instance in;
  in.name = str(item.find("name"));
  in.zone = last_part(str(item.find("zone")));
  in.status = str(item.find("status"));
  in.label_fingerprint = str(item.find("labelFingerprint"));
  in.creation = str(item.find("creationTimestamp"));
  if (const Value* l = item.find("labels"); l && l->is_object())
    for (const auto& [k, v] : l->as_object())
      if (v.is_string()) in.labels[k] = v.as_string();
  if (const Value* nics = item.find("networkInterfaces"); nics && nics->is_array() && nics->size() > 0) {
    const Value& nic = nics->as_array()[0];
    in.internal_ip = str(nic.find("networkIP"));
    if (const Value* ac = nic.find("accessConfigs"); ac && ac->is_array())
      for (const auto& a : ac->as_array())
        if (in.external_ip.empty()) in.external_ip = str(a.find("natIP"));
  }
  if (const Value* s = item.find("scheduling"); s && s->is_object()) {
    const Value* p = s->find("preemptible");
    in.preemptible = (p && p->is_bool() && p->as_bool()) || str(s->find("provisioningModel")) == "SPOT";
  }
  return in;
}

InstancePage parse_instances(const Value& answer) {
  InstancePage page;
  if (const Value* items = answer.find("items"); items && items->is_array()) {
    page.instances.reserve(items->size());
    for (const auto& item : items->as_array()) page.instances.push_back(parse_instance(item));
  }
  page.next_page_token = str(answer.find("nextPageToken"));
  return page;
}

std::string label_filter(const std::map<std::string, std::string>& labels) {
  std::string out;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!out.empty()) out += " AND ";
    out += "(labels." + k + " = \"" + v + "\")";
  };
  if (auto it = labels.find(tags::cluster_name); it != labels.end()) add(it->first, it->second);
  for (const auto& [k, v] : labels)
    if (k != tags::cluster_name) add(k, v);
  return out;
}

GcpProvider::GcpProvider(const ClusterSpec& spec, ClusterIdentity identity, ProviderContext context)
    : spec_(spec),
      identity_(std::move(identity)),
      ctx_(context.with_defaults()),
      cooldown_(ctx_.now, ctx_.settings.capacity_cooldown) {
  std::string endpoint = spec_.provider.endpoint_url;
  if (endpoint.empty())
    if (auto v = ctx_.env.get("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"); v && !v->empty()) endpoint = *v;
  if (endpoint.empty()) endpoint = kDefaultEndpoint;
  for (const auto& z : split(spec_.provider.availability_zone, ','))
    if (!trim(z).empty()) zones_.emplace_back(trim(z));
  if (zones_.empty() || spec_.provider.project_id.empty()) {
    auto at = spec_.origin("provider");
    throw Error(ErrorCode::config, (at.file.empty() ? std::string() : at.file + ": ") +
                                       "GCP needs provider.project_id and provider.availability_zone");
  }
  const std::string net = spec_.provider.network.empty() ? "default" : spec_.provider.network;
  network_ = net.find('/') == std::string::npos ? "global/networks/" + net : net;
  const std::string& sub = spec_.provider.subnetwork;
  if (!sub.empty())
    subnetwork_ = sub.find('/') == std::string::npos
                      ? "regions/" + spec_.provider.region + "/subnetworks/" + sub
                      : sub;
  net_tag_ = "raycluster-" + name_part(identity_.id, 40);
  // Ray's GCP provider does not cache stopped nodes unless told to.
  cache_stopped_ = spec_.origin("provider.cache_stopped_nodes").line > 0
                       ? spec_.provider.cache_stopped_nodes
                       : false;

  transport_ = ctx_.transport;
  if (!transport_) {
    // gcloud's core/custom_ca_certs_file property, as its environment variable.
    CurlTransportOptions to;
    auto ca = ctx_.env.get("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE");
    if (ca && !ca->empty()) {
      if (!is_regular_file(*ca))
        throw Error(ErrorCode::config, "the CA bundle " + *ca +
                                           " (CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE) is not a "
                                           "readable file");
      to.ca_bundle = *ca;
    }
    transport_ = make_curl_transport(to);
  }
  RetryPolicy policy = ctx_.retry;
  policy.is_throttle = is_throttle_response;
  RetryingTransport::Deps rd;
  rd.sleep = ctx_.sleep;
  rd.random = ctx_.random;
  rd.now = ctx_.now;
  retrying_ = std::make_unique<RetryingTransport>(*transport_, policy, rd);
  ClientOptions co;
  co.endpoint = endpoint;
  co.project = spec_.provider.project_id;
  co.now = ctx_.now;
  co.sleep = ctx_.sleep;
  co.operation_timeout = ctx_.settings.operation_timeout;
  if (ctx_.gcp_credentials) {
    co.credentials = ctx_.gcp_credentials;
  } else {
    GcpCredentialsConfig cc;
    cc.key_file = spec_.provider.service_account_key;
    if (const Value* c = spec_.provider.raw.find("gcp_credentials")) cc.gcp_credentials = *c;
    GcpEnvironment ge;
    ge.getenv = ctx_.env.getenv;
    ge.home = ctx_.env.home;
    // Token requests go through the raw transport: the credentials source
    // has its own retries.
    co.credentials = make_gcp_credentials_source(cc, ge, *transport_, ctx_.now, ctx_.sleep);
  }
  client_ = std::make_unique<Client>(*retrying_, co);
}

GcpProvider::~GcpProvider() = default;

std::vector<std::string> GcpProvider::warnings() const {
  const std::string& url = client_->endpoint();
  const std::string host = url_host(url);
  if (url.rfind("http://", 0) != 0 || host == "localhost" || is_loopback_address(host)) return {};
  return {"the Compute endpoint " + url +
          " is plain http: every request and its access token cross the network unencrypted; "
          "use an https:// endpoint"};
}

std::vector<Instance> GcpProvider::list_zone(const std::string& zone, const std::string& filter,
                                             const CancelToken& cancel) {
  std::vector<Instance> out;
  std::string next;
  do {
    std::string path = "zones/" + query_encode(zone) + "/instances?maxResults=500&filter=" +
                       query_encode(filter);
    if (!next.empty()) path += "&pageToken=" + query_encode(next);
    auto page = parse_instance_list(client_->call_text("GET", path, nullptr, cancel));
    for (auto& in : page.instances) {
      if (in.zone.empty()) in.zone = zone;
      out.push_back(std::move(in));
    }
    next = std::move(page.next_page_token);
  } while (!next.empty());
  return out;
}

std::vector<Instance> GcpProvider::list_instances(const std::map<std::string, std::string>& labels,
                                                  const CancelToken& cancel) {
  std::map<std::string, std::string> wanted = labels;
  wanted[tags::cluster_name] = encode_label_value(tags::cluster_name, spec_.cluster_name);
  const std::string filter = label_filter(wanted);
  std::vector<std::vector<Instance>> per_zone(zones_.size());
  parallel_for(zones_.size(), kParallelCalls,
               [&](std::size_t i) { per_zone[i] = list_zone(zones_[i], filter, cancel); });
  std::vector<Instance> out;
  for (auto& z : per_zone) std::move(z.begin(), z.end(), std::back_inserter(out));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& in : out) zone_by_name_[in.name] = in.zone;
  }
  remember(out);
  settle_writes(out);
  return out;
}

std::vector<Instance> GcpProvider::ours(std::vector<Instance> all) {
  std::map<std::string, std::string> foreign;
  std::vector<Instance> out;
  for (auto& in : all) {
    auto it = in.labels.find(tags::cluster_id);
    if (it != in.labels.end() && decode_label_value(it->second) != identity_.id) {
      foreign[in.name] = decode_label_value(it->second);
      continue;
    }
    out.push_back(std::move(in));
  }
  std::lock_guard<std::mutex> lock(mu_);
  foreign_ = std::move(foreign);
  return out;
}

std::string GcpProvider::zone_of(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = zone_by_name_.find(name); it != zone_by_name_.end()) return it->second;
  }
  list_instances();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = zone_by_name_.find(name);
  return it == zone_by_name_.end() ? std::string() : it->second;
}

std::optional<Instance> GcpProvider::get_instance(const std::string& name) {
  const std::string zone = zone_of(name);
  if (zone.empty()) return std::nullopt;
  try {
    Instance in = parse_instance(client_->call(
        "GET", "zones/" + query_encode(zone) + "/instances/" + query_encode(name)));
    if (in.zone.empty()) in.zone = zone;
    remember({in});
    return in;
  } catch (const GceError& e) {
    if (e.code() != ErrorCode::not_found) throw;
    forget({name});
    return std::nullopt;
  }
}

Node GcpProvider::to_node(const Instance& in) const {
  Node n;
  n.id = in.name;
  n.tags = from_labels(in.labels);
  n.tags.erase(kLaunchLabel);
  auto kind = n.tags.find(tags::node_kind);
  n.kind = kind != n.tags.end() && kind->second == "head" ? NodeKind::head : NodeKind::worker;
  if (auto t = n.tags.find(tags::user_node_type); t != n.tags.end()) n.node_type = t->second;
  n.state = state_of(in.status);
  n.internal_ip = in.internal_ip;
  n.external_ip = in.external_ip;
  n.launch_time = parse_time(in.creation);
  return n;
}

std::vector<Node> GcpProvider::list(const Tags& filter) {
  // While label writes are unconfirmed, Compute's filter may not see them
  // yet: list the cluster and filter here (select_nodes does).
  std::map<std::string, std::string> labels;
  if (!writes_pending())
    for (const auto& [k, v] : filter)
      if (k != tags::cluster_id && k != tags::cluster_name && valid_label_key(k))
        labels[k] = encode_label_value(k, v);
  std::vector<Node> nodes;
  for (const auto& in : ours(list_instances(labels)))
    if (alive_status(in.status)) nodes.push_back(to_node(in));
  // Instances launched by `ray up` carry no cluster id; they belong to the
  // cluster of that name.
  return select_nodes(std::move(nodes), filter, UntaggedClusterId::included);
}

std::vector<std::string> GcpProvider::cluster_ids_in_use(const CancelToken& cancel) {
  std::set<std::string> ids;
  for (const auto& in : list_instances({}, cancel))
    if (auto it = in.labels.find(tags::cluster_id); it != in.labels.end())
      ids.insert(decode_label_value(it->second));
  return {ids.begin(), ids.end()};
}

std::unique_ptr<CommandRunner> GcpProvider::command_runner(const Node& node) {
  const bool internal = spec_.provider.use_internal_ips;
  std::string host = internal ? node.internal_ip : node.external_ip;
  if (host.empty())
    host = wait_for_address(
        ctx_, node.id, internal,
        {"internal", "external", "on a network without external addresses"},
        [&]() -> std::string {
          auto found = get_instance(node.id);
          if (!found)
            throw Error(ErrorCode::not_found, "instance " + node.id + " no longer exists");
          return internal ? found->internal_ip : found->external_ip;
        });
  return cloud_node_runner(spec_, identity_, host, ctx_.env, key_path());
}

}  // namespace raycluster::detail::gce
