// The head's cloud identity on GCP: a service account with a custom role
// holding exactly the Compute permissions of the autoscaler's calls, bound on
// the project under an IAM condition that limits instance operations to the
// cluster's instance names.
//
// `up` makes sure of it (HeadIdentity::ensure) when the autoscaler runs on
// the head and the head's node_config names no serviceAccounts; the head is
// launched with it and its autoscaler gets its tokens from the metadata
// server. `down` removes what ensure created (HeadIdentity::remove), after
// the head is gone; what the user gave is never touched.
//
// Calls: IAM v1 (projects.serviceAccounts.get/create/delete,
// projects.roles.get/create/patch/undelete/delete) and Cloud Resource
// Manager v1 (projects.getIamPolicy/setIamPolicy, read-modify-write with the
// policy's etag, tried again after a 409 or 412), through the provider's
// transport and credentials. Endpoints: CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM
// and CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER (the API's root,
// as gcloud takes them; "v1/..." follows), else Google's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "providers/gcp/compute_client.hpp"
#include "util/event.hpp"

namespace raycluster::detail::gce {

inline constexpr const char* kIamRoot = "https://iam.googleapis.com/";
inline constexpr const char* kCrmRoot = "https://cloudresourcemanager.googleapis.com/";
// Where ensure() records what it created (in the cluster's state folder).
inline constexpr const char* kHeadIdentityFile = "gcp_head_identity.json";
// setIamPolicy tries after a concurrent change (409/412) or an account not
// yet visible to it (400 "does not exist" right after its creation).
inline constexpr int kPolicyAttempts = 6;

// The Compute permissions the head autoscaler's calls need, sorted.
const std::vector<std::string>& head_role_permissions();

struct HeadIdentityNames {
  std::string project;
  std::string account_id;  // raycluster-<short cluster id>
  std::string email;       // <account_id>@<project>.iam.gserviceaccount.com
  std::string role_id;     // raycluster_<short cluster id>
  std::string role;        // projects/<project>/roles/<role_id>
  std::string member;      // serviceAccount:<email>
  std::string marker;      // in the account's and role's description: ours
};
HeadIdentityNames head_identity_names(const std::string& project, const std::string& cluster_id,
                                      const std::string& cluster_name);

// The binding's condition: any resource but an instance, or an instance whose
// name (projects/P/zones/Z/instances/N) starts with `instance_prefix` in one
// of `zones`.
std::string head_role_condition(const std::string& project, const std::vector<std::string>& zones,
                                const std::string& instance_prefix);

// Policy edits (a Resource Manager Policy object); true when changed.
bool add_conditional_binding(Value& policy, const std::string& role, const std::string& member,
                             const std::string& title, const std::string& expression);
bool remove_member_bindings(Value& policy, const std::string& role, const std::string& member);

struct HeadIdentityOptions {
  HeadIdentityNames names;
  std::vector<std::string> zones;
  std::string instance_prefix;  // "ray-<cluster>-"
  std::string iam_root = kIamRoot;
  std::string crm_root = kCrmRoot;
  std::string state_dir;  // kHeadIdentityFile goes here
  std::string head_key;   // "available_node_types.<head>.node_config", for messages
  std::shared_ptr<CredentialsSource<std::string>> credentials;
  WallClock now;
  Sleeper sleep;
};

class HeadIdentity {
 public:
  // `transport` retries throttling and 5xx (the provider's RetryingTransport).
  HeadIdentity(HttpTransport& transport, HeadIdentityOptions options);

  // Creates (or reuses, when its description says it is this cluster's) the
  // account, the role (undeleting ours when it was deleted earlier) and the
  // binding; returns the account's email. A refusal (403) throws
  // Error(permission) naming the call and what to do instead, after removing
  // what this call created; nothing is launched before it returns.
  std::string ensure(const EventSink& events, const CancelToken& cancel);
  // Removes the binding, the role and the account that ensure() recorded in
  // the state folder; nothing when it recorded none. Throws Error.
  void remove(const EventSink& events, const CancelToken& cancel);
  // True when the state folder records an identity ensure() created.
  bool recorded() const;

 private:
  struct Created {
    bool account = false, role = false, binding = false;
  };
  void ensure_account(Created& made, const CancelToken& cancel);
  void ensure_role(Created& made, const CancelToken& cancel);
  void ensure_binding(Created& made, const CancelToken& cancel);
  // Read-modify-write of the project's policy; `edit` returns false for no change.
  void edit_policy(const std::function<bool(Value&)>& edit, const CancelToken& cancel);
  void undo(const Created& made, const CancelToken& cancel);
  void record(const Created& made) const;

  HeadIdentityOptions o_;
  std::unique_ptr<Client> iam_;
  std::unique_ptr<Client> crm_;
};

}  // namespace raycluster::detail::gce
