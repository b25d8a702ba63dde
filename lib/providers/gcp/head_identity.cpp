// GcpProvider: the head's own service account (iam.hpp) — how it is made
// (when `up` asks: Provider::prepare_head_identity), and what the head
// autoscaler's spec says of it.
#include <algorithm>

#include "providers/gcp/gcp_provider.hpp"
#include "providers/gcp/iam.hpp"
#include "providers/gcp/labels.hpp"
#include "util/fs.hpp"

namespace raycluster::detail::gce {

std::unique_ptr<HeadIdentity> GcpProvider::head_identity() const {
  HeadIdentityOptions o;
  o.names = head_identity_names(spec_.provider.project_id, identity_.id, spec_.cluster_name);
  o.zones = zones_;
  o.instance_prefix = "ray-" + name_part(spec_.cluster_name, 24) + "-";
  if (auto v = ctx_.env.get("CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM"); v && !v->empty()) o.iam_root = *v;
  if (auto v = ctx_.env.get("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER"); v && !v->empty())
    o.crm_root = *v;
  o.state_dir = identity_.state_dir;
  o.head_key = "available_node_types." + spec_.head_node_type + ".node_config";
  o.credentials = client_->credentials();
  o.now = ctx_.now;
  o.sleep = ctx_.sleep;
  return std::make_unique<HeadIdentity>(*retrying_, std::move(o));
}

void GcpProvider::prepare_head_identity(const EventSink& events, const CancelToken& cancel) {
  std::lock_guard<std::mutex> boot(boot_mu_);
  make_dirs(identity_.state_dir, 0700);
  std::string email = head_identity()->ensure(events, cancel);
  std::lock_guard<std::mutex> lock(mu_);
  head_account_ = std::move(email);
}

void GcpProvider::remove_head_identity(const EventSink& events, const CancelToken& cancel) {
  auto id = head_identity();
  if (id->recorded()) id->remove(events, cancel);
}

Value GcpProvider::head_service_accounts() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (head_account_.empty()) return Value();
  Value sa = Value::object();
  sa.set("email", head_account_);
  Value scopes = Value::array();
  scopes.push("https://www.googleapis.com/auth/cloud-platform");
  sa.set("scopes", std::move(scopes));
  Value list = Value::array();
  list.push(std::move(sa));
  return list;
}

void GcpProvider::adjust_head_spec(Value& spec) const {
  // The head gets its tokens from the metadata server: this machine's
  // credentials (a token, a key file's path or contents) stay here.
  if (Value* p = spec.find("provider"); p && p->is_object()) {
    auto& members = p->as_object();
    std::erase_if(members, [](const auto& m) {
      return m.first == "gcp_credentials" || m.first == "service_account_key" ||
             m.first == "gcp_service_account_key";
    });
  }
  // The head's own bootstrap() finds the SSH rule as this machine left it:
  // no address look-up there, and no change the head may not make.
  {
    std::lock_guard<std::mutex> lock(mu_);
    Value* p = spec.find("provider");
    if (p && p->is_object() && !ssh_cidrs_.empty() && spec_.provider.ssh_allowed_cidrs.empty()) {
      Value list = Value::array();
      for (const auto& c : ssh_cidrs_) list.push(c);
      p->set("ssh_allowed_cidrs", std::move(list));
    }
  }
  Value accounts = head_service_accounts();
  if (accounts.is_null()) return;
  Value* types = spec.find("available_node_types");
  Value* head = types ? types->find(spec_.head_node_type) : nullptr;
  Value* config = head ? head->find("node_config") : nullptr;
  if (config && config->is_object() && !config->find("serviceAccounts"))
    config->set("serviceAccounts", std::move(accounts));
}

}  // namespace raycluster::detail::gce
