#include "providers/gcp/iam.hpp"

#include <algorithm>

#include "providers/gcp/labels.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace raycluster::detail::gce {
namespace {

std::string str(const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); }

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool is_denied(const Error& e) {
  const auto* g = dynamic_cast<const GceError*>(&e);
  return g && g->status() == 403;
}

std::vector<std::string> sorted_strings(const Value* v) {
  std::vector<std::string> out;
  if (v && v->is_array())
    for (const auto& x : v->as_array())
      if (x.is_string()) out.push_back(x.as_string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

const std::vector<std::string>& head_role_permissions() {
  // Each is what one of the autoscaler's Compute calls needs (see README):
  // instances.list/get, insert/bulkInsert (the boot disk from an image, the
  // NIC on a subnetwork with an external address, labels, ssh-keys
  // metadata, network tags), delete, stop/start, setLabels,
  // zoneOperations.get/wait, machineTypes.get, and bootstrap()'s reads of the
  // cluster's firewall rules.
  static const std::vector<std::string> perms = [] {
    std::vector<std::string> p = {
        "compute.disks.create",          "compute.firewalls.get",
        "compute.firewalls.list",        "compute.images.useReadOnly",
        "compute.instances.create",      "compute.instances.delete",
        "compute.instances.get",         "compute.instances.list",
        "compute.instances.setLabels",   "compute.instances.setMetadata",
        "compute.instances.setTags",     "compute.instances.start",
        "compute.instances.stop",        "compute.machineTypes.get",
        "compute.subnetworks.use",       "compute.subnetworks.useExternalIp",
        "compute.zoneOperations.get"};
    std::sort(p.begin(), p.end());
    return p;
  }();
  return perms;
}

HeadIdentityNames head_identity_names(const std::string& project, const std::string& cluster_id,
                                      const std::string& cluster_name) {
  HeadIdentityNames n;
  n.project = project;
  // Account ids: 6-30 characters of [a-z0-9-], starting with a letter and
  // not ending with '-'; "raycluster-" leaves 19.
  std::string shortid = name_part(cluster_id, 19);
  while (!shortid.empty() && shortid.back() == '-') shortid.pop_back();
  n.account_id = "raycluster-" + shortid;
  n.email = n.account_id + "@" + project + ".iam.gserviceaccount.com";
  std::string rid;
  for (char c : shortid) rid += c == '-' ? '_' : c;
  n.role_id = "raycluster_" + rid;
  n.role = "projects/" + project + "/roles/" + n.role_id;
  n.member = "serviceAccount:" + n.email;
  n.marker = "raycluster: the head autoscaler of cluster " + cluster_name + " (id " + cluster_id + ")";
  return n;
}

std::string head_role_condition(const std::string& project, const std::vector<std::string>& zones,
                                const std::string& instance_prefix) {
  std::string expr = "resource.type != \"compute.googleapis.com/Instance\"";
  for (const auto& z : zones)
    expr += " || resource.name.startsWith(" +
            quoted("projects/" + project + "/zones/" + z + "/instances/" + instance_prefix) + ")";
  return expr;
}

bool add_conditional_binding(Value& policy, const std::string& role, const std::string& member,
                             const std::string& title, const std::string& expression) {
  Value* bindings = policy.find("bindings");
  if (!bindings || !bindings->is_array()) {
    policy.set("bindings", Value::array());
    bindings = policy.find("bindings");
  }
  for (const auto& b : bindings->as_array()) {
    if (str(b.find("role")) != role) continue;
    const Value* c = b.find("condition");
    if (!c || str(c->find("expression")) != expression) continue;
    for (const auto& m : sorted_strings(b.find("members")))
      if (m == member) return false;
  }
  Value cond = Value::object();
  cond.set("title", title);
  cond.set("expression", expression);
  Value b = Value::object();
  b.set("role", role);
  b.set("members", Value::strings({member}));
  b.set("condition", std::move(cond));
  bindings->push(std::move(b));
  policy.set("version", 3);  // conditions need policy version 3
  return true;
}

bool remove_member_bindings(Value& policy, const std::string& role, const std::string& member) {
  Value* bindings = policy.find("bindings");
  if (!bindings || !bindings->is_array()) return false;
  bool changed = false;
  Value kept = Value::array();
  for (const auto& b : bindings->as_array()) {
    if (str(b.find("role")) != role) {
      kept.push(b);
      continue;
    }
    std::vector<std::string> members;
    for (const auto& m : sorted_strings(b.find("members")))
      if (m == member)
        changed = true;
      else
        members.push_back(m);
    if (members.empty()) continue;
    Value copy = b;
    copy.set("members", Value::strings(members));
    kept.push(std::move(copy));
  }
  if (changed) policy.set("bindings", std::move(kept));
  return changed;
}

HeadIdentity::HeadIdentity(HttpTransport& transport, HeadIdentityOptions options) : o_(std::move(options)) {
  auto client = [&](const std::string& root, const char* api) {
    ClientOptions co;
    co.endpoint = root + (root.empty() || root.back() == '/' ? "" : "/") + "v1/";
    co.project = o_.names.project;
    co.credentials = o_.credentials;
    co.now = o_.now;
    co.sleep = o_.sleep;
    co.api = api;
    return std::make_unique<Client>(transport, co);
  };
  iam_ = client(o_.iam_root, "IAM");
  crm_ = client(o_.crm_root, "Resource Manager");
  if (!o_.sleep) o_.sleep = real_sleeper();
}

bool HeadIdentity::recorded() const {
  return !o_.state_dir.empty() && path_exists(o_.state_dir + "/" + kHeadIdentityFile);
}

void HeadIdentity::record(const Created& made) const {
  if (o_.state_dir.empty()) return;
  Value v = Value::object();
  v.set("email", o_.names.email);
  v.set("role", o_.names.role);
  v.set("account_created", made.account);
  v.set("role_created", made.role);
  v.set("binding_created", made.binding);
  write_file_atomic(o_.state_dir + "/" + kHeadIdentityFile, v.to_json(2) + "\n", 0600);
}

void HeadIdentity::ensure_account(Created& made, const CancelToken& cancel) {
  const std::string path = "serviceAccounts/" + query_encode(o_.names.email);
  try {
    Value sa = iam_->call("GET", path, nullptr, cancel);
    if (str(sa.find("description")).find(o_.names.marker) == std::string::npos)
      throw Error(ErrorCode::conflict,
                  "the service account " + o_.names.email +
                      " exists and is not this cluster's (its description does not say \"" +
                      o_.names.marker + "\"); raycluster leaves it alone. Give the head's node_config "
                      "serviceAccounts, or set `autoscaler: local`");
    made.account = true;  // ours from an earlier `up`: `down` removes it
    record(made);
    return;
  } catch (const GceError& e) {
    if (e.code() != ErrorCode::not_found) throw;
  }
  Value sa = Value::object();
  sa.set("displayName", "raycluster head autoscaler");
  sa.set("description", o_.names.marker);
  Value body = Value::object();
  body.set("accountId", o_.names.account_id);
  body.set("serviceAccount", std::move(sa));
  iam_->call("POST", "serviceAccounts", &body, cancel);
  made.account = true;
  record(made);
}

void HeadIdentity::ensure_role(Created& made, const CancelToken& cancel) {
  const std::string path = "roles/" + o_.names.role_id;
  Value want = Value::object();
  want.set("title", "raycluster head autoscaler " + o_.names.role_id.substr(11));
  want.set("description", o_.names.marker);
  want.set("includedPermissions", Value::strings(head_role_permissions()));
  want.set("stage", "GA");
  std::optional<Value> have;
  try {
    have = iam_->call("GET", path, nullptr, cancel);
  } catch (const GceError& e) {
    if (e.code() != ErrorCode::not_found) throw;
  }
  if (!have) {
    Value body = Value::object();
    body.set("roleId", o_.names.role_id);
    body.set("role", want);
    iam_->call("POST", "roles", &body, cancel);
    made.role = true;
    record(made);
    return;
  }
  if (str(have->find("description")).find(o_.names.marker) == std::string::npos)
    throw Error(ErrorCode::conflict, "the custom role " + o_.names.role +
                                         " exists and is not this cluster's; raycluster leaves it alone");
  made.role = true;
  record(made);
  // A role deleted by an earlier `down` lingers for 7 days and its id cannot
  // be used again for 37: take it back.
  if (const Value* d = have->find("deleted"); d && d->is_bool() && d->as_bool()) {
    Value body = Value::object();
    if (const Value* etag = have->find("etag")) body.set("etag", *etag);
    *have = iam_->call("POST", path + ":undelete", &body, cancel);
  }
  if (sorted_strings(have->find("includedPermissions")) != head_role_permissions()) {
    Value body = want;
    if (const Value* etag = have->find("etag")) body.set("etag", *etag);
    iam_->call("PATCH", path + "?updateMask=includedPermissions%2Cdescription%2Ctitle", &body, cancel);
  }
}

void HeadIdentity::edit_policy(const std::function<bool(Value&)>& edit, const CancelToken& cancel) {
  std::chrono::milliseconds pause(1000);
  for (int attempt = 1;; ++attempt) {
    Value ask = Value::object();
    Value options = Value::object();
    options.set("requestedPolicyVersion", 3);
    ask.set("options", std::move(options));
    Value policy = crm_->call("POST", ":getIamPolicy", &ask, cancel);
    if (!edit(policy)) return;
    Value body = Value::object();
    body.set("policy", policy);  // carries the etag read: a concurrent change answers 409
    try {
      crm_->call("POST", ":setIamPolicy", &body, cancel);
      return;
    } catch (const GceError& e) {
      const bool raced = e.status() == 409 || e.status() == 412;
      // A service account just created may not be visible to setIamPolicy yet.
      const bool young = e.status() == 400 && std::string(e.what()).find("does not exist") != std::string::npos;
      if ((!raced && !young) || attempt >= kPolicyAttempts) throw;
    }
    if (!o_.sleep(pause, cancel)) throw Error(ErrorCode::cancelled, "cancelled");
    pause = std::min(pause * 2, std::chrono::milliseconds(8000));
  }
}

void HeadIdentity::ensure_binding(Created& made, const CancelToken& cancel) {
  const std::string expr = head_role_condition(o_.names.project, o_.zones, o_.instance_prefix);
  edit_policy([&](Value& p) {
    return add_conditional_binding(p, o_.names.role, o_.names.member,
                                   "raycluster " + o_.names.role_id.substr(11) + " instances", expr);
  }, cancel);
  made.binding = true;
  record(made);
}

std::string HeadIdentity::ensure(const EventSink& events, const CancelToken& cancel) {
  Created made;
  const char* step = "projects.serviceAccounts.get/create";
  try {
    ensure_account(made, cancel);
    step = "projects.roles.get/create";
    ensure_role(made, cancel);
    step = "projects.getIamPolicy/setIamPolicy";
    ensure_binding(made, cancel);
  } catch (const Error& e) {
    const bool denied = is_denied(e);
    try {
      undo(made, cancel);
    } catch (const Error& cleanup) {
      // The first error is the one to act on; say what is left.
      throw Error(denied ? ErrorCode::auth : e.code(),
                  std::string(e.what()) + "; removing what was created failed too: " + cleanup.what() +
                      " (run `raycluster down` to try again)");
    }
    if (!denied) throw;
    std::string why = e.what();
    while (!why.empty() && why.back() == '.') why.pop_back();
    throw Error(ErrorCode::auth,
                std::string("the head autoscaler needs a service account of its own, and GCP refused ") +
                    step + ": " + why +
                    ". Nothing was launched. Either let this account create service accounts and "
                    "custom roles and set the project's IAM policy (roles/iam.serviceAccountAdmin, "
                    "roles/iam.roleAdmin, roles/resourcemanager.projectIamAdmin), or give the head "
                    "a service account yourself (serviceAccounts: [{email: ..., scopes: "
                    "[https://www.googleapis.com/auth/cloud-platform]}] in " +
                    (o_.head_key.empty() ? std::string("the head's node_config") : o_.head_key) + "), "
                    "or set `autoscaler: local`");
  }
  log_event(events, LogLevel::info, "head service account " + o_.names.email + " with custom role " + o_.names.role +
                   " (" + std::to_string(head_role_permissions().size()) +
                   " Compute permissions, instances limited to " + o_.instance_prefix + "*)");
  return o_.names.email;
}

void HeadIdentity::undo(const Created& made, const CancelToken& cancel) {
  if (made.binding)
    edit_policy([&](Value& p) { return remove_member_bindings(p, o_.names.role, o_.names.member); }, cancel);
  if (made.role) {
    try {
      iam_->call("DELETE", "roles/" + o_.names.role_id, nullptr, cancel);
    } catch (const GceError& e) {
      if (e.code() != ErrorCode::not_found) throw;
    }
  }
  if (made.account) {
    try {
      iam_->call("DELETE", "serviceAccounts/" + query_encode(o_.names.email), nullptr, cancel);
    } catch (const GceError& e) {
      if (e.code() != ErrorCode::not_found) throw;
    }
  }
  if (!o_.state_dir.empty() && path_exists(o_.state_dir + "/" + kHeadIdentityFile))
    remove_tree(o_.state_dir + "/" + kHeadIdentityFile);
}

void HeadIdentity::remove(const EventSink& events, const CancelToken& cancel) {
  if (!recorded()) return;
  Value rec = Value::parse_json(read_file(o_.state_dir + "/" + kHeadIdentityFile, 1 << 16));
  auto flag = [&](const char* k) {
    const Value* v = rec.find(k);
    return v && v->is_bool() && v->as_bool();
  };
  Created made;
  made.account = flag("account_created");
  made.role = flag("role_created");
  made.binding = flag("binding_created") || made.role;  // a binding may outlive a crash
  undo(made, cancel);
  log_event(events, LogLevel::info, "removed the head service account " + o_.names.email + " and its role " + o_.names.role);
}

}  // namespace raycluster::detail::gce
