// GcpProvider::bootstrap and teardown: node_config checks, the SSH key and
// the cluster's firewall rules.
#include <algorithm>
#include <set>

#include "providers/common/caller_address.hpp"
#include "providers/common/ssh_key.hpp"
#include "providers/gcp/gcp_provider.hpp"
#include "providers/gcp/labels.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::gce {
namespace {

using std::chrono::milliseconds;

std::string str(const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); }

bool covers_port(const FirewallRule& r, int port) {
  for (const auto& p : r.ports) {
    auto dash = p.find('-');
    int lo = 0, hi = 0;
    try {
      lo = std::stoi(p.substr(0, dash));
      hi = dash == std::string::npos ? lo : std::stoi(p.substr(dash + 1));
    } catch (const std::exception&) {
      continue;
    }
    if (lo <= port && port <= hi) return true;
  }
  return false;
}

std::string rule_name(const std::string& prefix, const std::string& name) {
  std::string n = prefix + "-" + name_part(name, 63 - prefix.size() - 1);
  while (!n.empty() && n.back() == '-') n.pop_back();
  return n;
}

}  // namespace

std::function<void(const Value&)> progress_to(const EventSink& events, const std::string& what) {
  if (!events) return {};
  return [events, what](const Value& op) {
    Event e;
    e.kind = EventKind::progress;
    const Value* p = op.find("progress");
    e.done = p && p->is_integer() ? static_cast<int>(p->as_int()) : 0;
    e.total = 100;
    e.message = what + " (" + str(op.find("status")) + ")";
    events(e);
  };
}

std::string GcpProvider::key_path() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!key_path_.empty()) return key_path_;
  }
  if (!spec_.auth.ssh_private_key.empty()) return spec_.auth.ssh_private_key;
  std::string f = identity_.state_dir + "/gcp_ssh_key.pem";
  return path_exists(f) ? f : std::string();
}

std::vector<std::string> GcpProvider::firewall_names() const {
  std::vector<std::string> out = {net_tag_ + "-internal"};
  bool user_ssh = false;
  for (const auto& r : spec_.provider.firewall_rules) {
    out.push_back(rule_name(net_tag_, r.name));
    user_ssh = user_ssh || covers_port(r, spec_.auth.ssh_port);
  }
  if (!user_ssh) out.push_back(net_tag_ + "-ssh");
  return out;
}

void GcpProvider::bootstrap(const EventSink& events, const CancelToken& cancel) {
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

void GcpProvider::bootstrap_locked(const EventSink& events, const CancelToken& cancel) {
  check_node_configs();
  cancel.throw_if_cancelled();
  ours(list_instances({}, cancel));
  std::map<std::string, std::string> foreign;
  {
    std::lock_guard<std::mutex> lock(mu_);
    foreign = foreign_;
  }
  if (!foreign.empty()) {
    std::string msg = std::to_string(foreign.size()) + " instance(s) named " + spec_.cluster_name +
                      " carry another " + tags::cluster_id + " than this state folder's " +
                      identity_.id + ":";
    for (const auto& [id, other] : foreign) msg += " " + id + " (" + other + ")";
    log_event(events, LogLevel::warning, msg + "; raycluster leaves them alone");
  }
  ensure_ssh_key(events);
  ensure_firewalls(events, cancel);
  std::lock_guard<std::mutex> lock(mu_);
  bootstrapped_ = true;
}

// Every node_config key must be an instance property Compute knows; the
// cluster's labels must be label keys. Checked before anything is created.
void GcpProvider::check_node_configs() const {
  std::vector<Diagnostic> problems;
  const auto& allowed = allowed_node_config_keys();
  for (const auto& type : spec_.node_types) {
    if (!type.node_config.is_object()) continue;
    const std::string base = "available_node_types." + type.name + ".node_config";
    for (const auto& member : type.node_config.as_object()) {
      const std::string& k = member.first;
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      Diagnostic d;
      d.key_path = base + "." + k;
      d.where = spec_.origin(d.key_path);
      if (d.where.line == 0) d.where = spec_.origin(base);
      d.message = "'" + k + "' is not a property of a Compute Engine instance that raycluster passes on";
      if (auto m = closest_match(k, allowed)) d.hint = "did you mean '" + *m + "'?";
      problems.push_back(std::move(d));
    }
    if (const Value* l = type.node_config.find("labels"); l && l->is_object())
      for (const auto& member : l->as_object())
        if (!valid_label_key(member.first) || !member.second.is_string()) {
          Diagnostic d;
          d.key_path = base + ".labels." + member.first;
          d.where = spec_.origin(d.key_path);
          d.message = "not a GCP label (lowercase key of letters, digits, '_' and '-'; a string value)";
          problems.push_back(std::move(d));
        }
  }
  for (const auto& [k, v] : spec_.tags) {
    try {
      to_labels({{k, v}});
    } catch (const Error& e) {
      Diagnostic d;
      d.key_path = spec_.dialect == Dialect::flat ? "labels." + k : "tags." + k;
      d.where = spec_.origin(d.key_path);
      d.message = e.what();
      problems.push_back(std::move(d));
    }
  }
  if (!problems.empty()) throw ConfigError(std::move(problems));
}

void GcpProvider::ensure_ssh_key(const EventSink& events) {
  const std::string user = spec_.auth.ssh_user.empty() ? "ubuntu" : spec_.auth.ssh_user;
  std::string pub, path;
  if (!spec_.auth.ssh_public_key.empty()) {
    pub = std::string(trim(split(read_file(spec_.auth.ssh_public_key, 1 << 20), '\n').front()));
    path = spec_.auth.ssh_private_key;
  } else if (!spec_.auth.ssh_private_key.empty()) {
    path = spec_.auth.ssh_private_key;
    pub = ssh_public_key(read_file(path, 1 << 20), path);
  } else {
    path = identity_.state_dir + "/gcp_ssh_key.pem";
    if (!path_exists(path)) {
      make_dirs(identity_.state_dir, 0700);
      generate_ssh_key(path);
      log_event(events, LogLevel::info, "created SSH key " + path);
    }
    pub = ssh_public_key(read_file(path, 1 << 20), path);
  }
  auto fields = split(pub, ' ');
  fields.erase(std::remove(fields.begin(), fields.end(), std::string()), fields.end());
  if (fields.size() < 2)
    throw Error(ErrorCode::config, "auth.ssh_public_key " + spec_.auth.ssh_public_key +
                                       " is not an OpenSSH public key line");
  std::lock_guard<std::mutex> lock(mu_);
  ssh_key_line_ = user + ":" + fields[0] + " " + fields[1] + " " + user;
  key_path_ = path;
}

void GcpProvider::ensure_firewalls(const EventSink& events, const CancelToken& cancel) {
  const std::string desc = "raycluster " + spec_.cluster_name + " (" + identity_.id + ")";
  auto rule = [&](const std::string& name, const std::string& what) {
    Value r = Value::object();
    r.set("name", name);
    r.set("description", desc + ": " + what);
    r.set("network", network_);
    r.set("direction", "INGRESS");
    r.set("priority", 1000);
    r.set("targetTags", Value::strings({net_tag_}));
    return r;
  };
  auto allow = [](const std::string& proto, const std::vector<std::string>& ports) {
    Value a = Value::object();
    a.set("IPProtocol", proto);
    if (!ports.empty()) a.set("ports", Value::strings(ports));
    Value list = Value::array();
    list.push(std::move(a));
    return list;
  };
  // Everything between the cluster's instances but the dashboard's port,
  // which is reached through an SSH tunnel only.
  Value internal = rule(net_tag_ + "-internal",
                        "traffic between the cluster's instances, dashboard port excepted");
  internal.set("sourceTags", Value::strings({net_tag_}));
  const int dash = spec_.dashboard_port;
  std::vector<std::string> ports;
  if (dash > 0) ports.push_back("0-" + std::to_string(dash - 1));
  if (dash < 65535) ports.push_back(std::to_string(dash + 1) + "-65535");
  Value allowed = allow("tcp", ports);
  allowed.push(allow("udp", {}).as_array()[0]);
  allowed.push(allow("icmp", {}).as_array()[0]);
  internal.set("allowed", std::move(allowed));
  ensure_firewall(internal, events, cancel);
  bool user_ssh = false;
  for (const auto& r : spec_.provider.firewall_rules) {
    Value v = rule(rule_name(net_tag_, r.name), "firewall rule " + r.name);
    v.set("sourceRanges", Value::strings(r.allowed_sources));
    v.set("allowed", allow("tcp", r.ports));
    ensure_firewall(v, events, cancel);
    user_ssh = user_ssh || covers_port(r, spec_.auth.ssh_port);
  }
  if (user_ssh) return;
  Value ssh = rule(net_tag_ + "-ssh", "SSH from the operator");
  const auto cidrs = caller_ssh_cidrs(spec_, ctx_.env, *retrying_, cancel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ssh_cidrs_ = cidrs;
  }
  ssh.set("sourceRanges", Value::strings(cidrs));
  ssh.set("allowed", allow("tcp", {std::to_string(spec_.auth.ssh_port)}));
  ensure_firewall(ssh, events, cancel);
}

void GcpProvider::ensure_firewall(const Value& rule, const EventSink& events,
                                  const CancelToken& cancel) {
  const std::string name = str(rule.find("name"));
  const std::string path = "global/firewalls/" + query_encode(name);
  std::optional<Value> existing;
  try {
    existing = client_->call("GET", path, nullptr, cancel);
  } catch (const GceError& e) {
    if (e.code() != ErrorCode::not_found) throw;
  }
  if (!existing) {
    try {
      Value op = client_->call("POST", "global/firewalls?requestId=" + uuid_from(identity_.id + "|" + rule.to_json()),
                               &rule, cancel);
      client_->wait(op, progress_to(events, "firewall rule " + name), cancel);
      log_event(events, LogLevel::info, "created firewall rule " + name);
    } catch (const GceError& e) {
      if (e.code() != ErrorCode::conflict) throw;  // created meanwhile
    }
    return;
  }
  // Addresses the rule lacks (the operator's address changed) are added.
  const Value* want = rule.find("sourceRanges");
  if (!want) return;
  std::vector<std::string> have;
  if (const Value* s = existing->find("sourceRanges"); s && s->is_array())
    for (const auto& x : s->as_array())
      if (x.is_string()) have.push_back(x.as_string());
  std::vector<std::string> merged = have;
  for (const auto& x : want->as_array())
    if (std::find(have.begin(), have.end(), x.as_string()) == have.end()) merged.push_back(x.as_string());
  if (merged.size() == have.size()) {
    log_event(events, LogLevel::debug, "using firewall rule " + name);
    return;
  }
  Value patch = Value::object();
  patch.set("sourceRanges", Value::strings(merged));
  Value op = client_->call("PATCH", path, &patch, cancel);
  client_->wait(op, progress_to(events, "firewall rule " + name), cancel);
  log_event(events, LogLevel::info, "firewall rule " + name + ": sources " + join(merged, ", "));
}

void GcpProvider::delete_firewalls(const EventSink& events, const CancelToken& cancel) {
  std::vector<std::string> names;
  std::string next;
  do {
    std::string p = "global/firewalls?maxResults=500";
    if (!next.empty()) p += "&pageToken=" + query_encode(next);
    Value page = client_->call("GET", p, nullptr, cancel);
    if (const Value* items = page.find("items"); items && items->is_array())
      for (const auto& fw : items->as_array()) {
        std::string n = str(fw.find("name"));
        bool tagged = false;
        if (const Value* t = fw.find("targetTags"); t && t->is_array())
          for (const auto& x : t->as_array()) tagged = tagged || (x.is_string() && x.as_string() == net_tag_);
        // Only the cluster's own: its name prefix and its network tag.
        if (tagged && n.rfind(net_tag_ + "-", 0) == 0) names.push_back(n);
      }
    next = str(page.find("nextPageToken"));
  } while (!next.empty());
  for (const auto& n : names) {
    try {
      Value op = client_->call("DELETE", "global/firewalls/" + query_encode(n), nullptr, cancel);
      client_->wait(op, progress_to(events, "deleting firewall rule " + n), cancel);
      log_event(events, LogLevel::info, "deleted firewall rule " + n);
    } catch (const GceError& e) {
      if (e.code() != ErrorCode::not_found) throw;
    }
  }
}

void GcpProvider::teardown(const EventSink& events, const CancelToken& cancel) {
  const auto deadline = ctx_.now() + ctx_.settings.teardown_timeout;
  milliseconds delay(1000);
  std::map<std::string, std::chrono::system_clock::time_point> asked;
  std::map<std::string, std::string> refused;
  for (;;) {
    cancel.throw_if_cancelled();
    auto left = ours(list_instances({}, cancel));
    if (left.empty()) break;
    const auto now = ctx_.now();
    if (now >= deadline || refused.size() == left.size()) {
      std::string msg = std::to_string(left.size()) + " instance(s) of cluster " +
                        spec_.cluster_name + " could not be deleted:";
      for (const auto& in : left)
        msg += "\n  " + in.name + " (" + (refused.count(in.name) ? refused[in.name] : in.status) + ")";
      throw Error(refused.size() == left.size() ? ErrorCode::invalid_request : ErrorCode::timeout, msg);
    }
    std::vector<std::string> to_delete;
    for (const auto& in : left)
      if (!refused.count(in.name) && (!asked.count(in.name) || now - asked[in.name] > std::chrono::seconds(60)))
        to_delete.push_back(in.name);
    if (!to_delete.empty())
      log_event(events, LogLevel::info, "deleting " + std::to_string(to_delete.size()) + " remaining instance(s)");
    std::mutex mu;
    parallel_for(to_delete.size(), kParallelCalls, [&](std::size_t i) {
      try {
        instance_action(to_delete[i], "delete");
      } catch (const Error& e) {
        if (e.retryable() || e.code() == ErrorCode::cancelled) return;
        std::lock_guard<std::mutex> lock(mu);
        refused[to_delete[i]] = e.what();
      }
    });
    for (const auto& n : to_delete) asked[n] = now;
    if (!ctx_.sleep(delay, cancel)) throw Error(ErrorCode::cancelled, "down cancelled");
    delay = std::min(delay * 2, milliseconds(15000));
  }
  delete_firewalls(events, cancel);
  remove_head_identity(events, cancel);  // the head is gone
  std::map<std::string, std::string> foreign;
  {
    std::lock_guard<std::mutex> lock(mu_);
    foreign = foreign_;
  }
  if (foreign.empty()) return;
  std::string msg = std::to_string(foreign.size()) + " instance(s) labelled " + tags::cluster_name +
                    "=" + spec_.cluster_name + " belong to another " + tags::cluster_id +
                    " than this state folder's (" + identity_.id + ", " + identity_.state_dir +
                    ") and were left running:";
  for (const auto& [id, other] : foreign) msg += "\n  " + id + " (" + tags::cluster_id + "=" + other + ")";
  msg += "\nThey were launched from another state folder; end them from there or in the console.";
  if (identity_.fresh) throw Error(ErrorCode::conflict, msg);
  log_event(events, LogLevel::warning, msg);
}

}  // namespace raycluster::detail::gce
