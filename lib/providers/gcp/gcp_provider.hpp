// The Compute Engine provider: nodes are GCE instances labelled with Ray's
// tag names (values encoded as labels.hpp says) and the cluster id, reached
// over SSH.
//
// bootstrap() checks every node_config against Compute's instance properties,
// makes sure of the SSH key (auth.ssh_public_key, the public half of
// auth.ssh_private_key, or a key generated into the state folder) and of the
// cluster's firewall rules on its network (provider.network or "default"),
// all matched by the network tag raycluster-<cluster id> that every instance
// carries: SSH from the caller's address only (provider.ssh_allowed_cidrs,
// else a checkip service), all traffic between the cluster's instances, and
// the flat dialect's firewall_rules as written. It writes no project
// metadata: the SSH key goes into each instance's metadata. When the
// autoscaler runs on the head and the head's node_config names no
// serviceAccounts, it first makes sure of the head's service account and
// custom role (iam.hpp), before anything else is created; teardown()
// removes them once every instance is gone.
//
// create() launches with instances.bulkInsert (instances.insert for a head),
// requestId derived from the launch's idempotency token, in the zones of
// provider.availability_zone (comma-separated, tried in order; zones that
// recently had no capacity for the machine type go last).
//
// Retries: one RetryingTransport (429, 5xx, rate-limit 403s); the provider
// itself only moves to the next zone after a capacity error on the
// operation, re-reads a node after a 412 from setLabels (sent with the
// labelFingerprint last seen, its operation checked later), and asks for a new
// token once after a 401.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/http.hpp"
#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "providers/common/provider.hpp"
#include "providers/common/tag_batcher.hpp"
#include "providers/common/zone_cooldown.hpp"
#include "providers/gcp/compute_client.hpp"
#include "providers/gcp/machine_types.hpp"

namespace raycluster::detail::gce {

// Instances per bulkInsert call (Compute's limit); calls in flight at once;
// setLabels tries after a 412 (another writer changed the labels meanwhile).
inline constexpr int kBulkLimit = 1000;
inline constexpr std::size_t kParallelCalls = 16;
inline constexpr int kLabelAttempts = 5;
// Launches again after RESOURCE_OPERATION_RATE_EXCEEDED on the operation.
inline constexpr std::size_t kOperationRetries = 3;
// The label naming the launch (idempotency token) an instance came from.
inline constexpr const char* kLaunchLabel = "raycluster-launch";

class HeadIdentity;  // iam.hpp

// GCE status -> CloudState (TERMINATED is GCE's "stopped").
CloudState state_of(const std::string& status);
bool alive_status(const std::string& status);

// One instance as instances.list / get describe it.
// An operation wait's progress callback that reports each poll to `events`
// as a progress event (done = the operation's progress of 100) about `what`;
// empty when `events` is.
std::function<void(const Value&)> progress_to(const EventSink& events, const std::string& what);

struct Instance {
  std::string name;
  std::string zone;
  std::string status;  // PROVISIONING, STAGING, RUNNING, STOPPING, TERMINATED, ...
  std::map<std::string, std::string> labels;  // as stored (encoded)
  std::string label_fingerprint;
  std::string internal_ip;
  std::string external_ip;
  std::string creation;  // RFC 3339
  bool preemptible = false;
};

// Instances of one instances.list page (or an instances.get answer when
// `single`), and the next page's token.
struct InstancePage {
  std::vector<Instance> instances;
  std::string next_page_token;
};
InstancePage parse_instances(const Value& answer);
Instance parse_instance(const Value& item);

// The instance list filter of a cluster: the ray-cluster-name label, then the
// other labels of `labels` (already encoded), each as (labels.k = "v").
std::string label_filter(const std::map<std::string, std::string>& labels);

// The top-level node_config keys the provider passes on (Compute's
// InstanceProperties, plus sourceInstanceTemplate).
const std::vector<std::string>& allowed_node_config_keys();

class GcpProvider : public Provider {
 public:
  // Resolves the endpoint (provider.endpoint_url, else
  // CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE, else Compute's) and the
  // credentials source (context.gcp_credentials, else
  // make_gcp_credentials_source() from the spec and context.env).
  GcpProvider(const ClusterSpec& spec, ClusterIdentity identity, ProviderContext context = {});
  ~GcpProvider() override;

  std::string name() const override { return "gcp"; }
  void bootstrap(const EventSink& events, const CancelToken& cancel) override;
  std::vector<Node> create(const LaunchRequest& request) override;
  std::vector<Node> list(const Tags& filter) override;
  void terminate(const std::vector<std::string>& node_ids) override;
  void set_tags(const std::vector<std::string>& node_ids, const Tags& tags) override;
  void post_tags(const std::vector<std::string>& node_ids, const Tags& tags) override {
    tags_.post(node_ids, tags);
  }
  std::unique_ptr<CommandRunner> command_runner(const Node& node) override;
  void teardown(const EventSink& events, const CancelToken& cancel) override;
  std::vector<std::string> cluster_ids_in_use(const CancelToken& cancel) override;
  std::vector<std::string> warnings() const override;
  // The head's service account (head_identity.cpp), made where `up` asks, as
  // AWS makes the head's role: before bootstrap, removed by teardown.
  bool makes_head_identity() const override { return true; }
  void prepare_head_identity(const EventSink& events, const CancelToken& cancel) override;
  void adjust_head_spec(Value& spec) const override;
  // From machineTypes.get in the first zone that knows the type (see
  // machine_types.hpp), kept in the state folder's machine_types.json per
  // project/zone/type; empty for a node type without a machineType.
  std::map<std::string, double> node_type_resources(const NodeTypeSpec& type, bool head,
                                                    const CancelToken& cancel) override;

  // For tests and messages.
  const std::string& endpoint() const { return client_->endpoint(); }
  const std::vector<std::string>& zones() const { return zones_; }
  std::string network_tag() const { return net_tag_; }
  // The firewall rule names bootstrap() makes sure of.
  std::vector<std::string> firewall_names() const;
  bool caches_stopped_nodes() const { return cache_stopped_; }
  std::string key_path() const;

  // The instance body (bulk: InstanceProperties with a bare machine type;
  // else an Instance with zones/Z/machineTypes/T) of a launch in `zone`.
  Value instance_properties(const LaunchRequest& request, const std::string& zone, bool bulk,
                            const std::string& launch_label) const;

 private:
  void bootstrap_locked(const EventSink& events, const CancelToken& cancel);
  void check_node_configs() const;
  void ensure_ssh_key(const EventSink& events);
  // The head's service account (iam.hpp).
  std::unique_ptr<HeadIdentity> head_identity() const;
  void remove_head_identity(const EventSink& events, const CancelToken& cancel);
  // [{email, scopes: [cloud-platform]}] of the account made for the head; null: none.
  Value head_service_accounts() const;
  void ensure_firewalls(const EventSink& events, const CancelToken& cancel);
  void ensure_firewall(const Value& rule, const EventSink& events, const CancelToken& cancel);
  void delete_firewalls(const EventSink& events, const CancelToken& cancel);

  // Instances with the cluster's name label (and `labels`), every zone and page.
  std::vector<Instance> list_instances(const std::map<std::string, std::string>& labels = {},
                                       const CancelToken& cancel = {});
  std::vector<Instance> list_zone(const std::string& zone, const std::string& filter,
                                  const CancelToken& cancel);
  std::vector<Instance> ours(std::vector<Instance> all);
  std::optional<Instance> get_instance(const std::string& name);
  std::string zone_of(const std::string& name);
  Node to_node(const Instance& in) const;
  // `seed` names this launch call (the request's token, plus a chunk number
  // past the first 1,000); `label` the request (kLaunchLabel's value).
  std::vector<Instance> launch(const LaunchRequest& request, int count, const std::string& seed,
                               const std::string& label);
  std::vector<Instance> launch_in_zone(const LaunchRequest& request, int count,
                                       const std::string& seed, const std::string& label,
                                       const std::string& zone);
  void instance_action(const std::string& name, const std::string& action);
  MachineTypeInfo machine_type_info(const std::string& type, const CancelToken& cancel);
  void commit_tags(const std::vector<TagBatcher::Update>& batch);
  void set_labels(const std::string& name, const Tags& set, const std::vector<std::string>& remove);

  // Label writes (label_writes.cpp). setLabels is sent with the latest
  // labelFingerprint a list, get or earlier write left (a 412 re-reads), and
  // its operation is not waited for: a later answer showing the labels sent
  // confirms it; a listing that does not show them waits for it, and a write
  // whose operation failed is sent again.
  struct LabelWrite {
    Value op;                                   // as setLabels answered
    std::map<std::string, std::string> labels;  // as sent (encoded)
    Tags set;
    std::vector<std::string> remove;
  };
  // Records what Compute answered about instances, confirming writes.
  void remember(const std::vector<Instance>& seen);
  // After a listing: waits for the writes it does not show and puts their
  // labels into `listed`.
  void settle_writes(std::vector<Instance>& listed);
  // Waits for an unconfirmed write; false when its operation failed.
  bool finish_write(const std::string& name, const LabelWrite& write);
  void forget(const std::vector<std::string>& names);
  bool writes_pending() const;

  const ClusterSpec& spec_;
  ClusterIdentity identity_;
  ProviderContext ctx_;
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<RetryingTransport> retrying_;
  std::unique_ptr<Client> client_;
  std::vector<std::string> zones_;
  std::string network_;     // global/networks/N (or as written with a '/')
  std::string subnetwork_;  // regions/R/subnetworks/S, or empty
  std::string net_tag_;
  bool cache_stopped_ = false;

  std::mutex boot_mu_;
  mutable std::mutex mu_;  // the state below
  bool bootstrapped_ = false;
  std::string ssh_key_line_;  // "user:ssh-rsa AAAA..."
  std::string key_path_;
  std::string head_account_;  // the service account bootstrap() made for the head
  std::vector<std::string> ssh_cidrs_;  // the SSH rule's sources bootstrap() resolved
  std::map<std::string, std::string> zone_by_name_;
  std::map<std::string, std::string> foreign_;
  std::map<std::string, Instance> known_;     // fingerprint "" once a write is sent
  std::map<std::string, LabelWrite> writes_;  // sent, not yet confirmed
  ZoneCooldown cooldown_;
  std::mutex types_mu_;
  std::map<std::string, MachineTypeInfo> machine_types_;
  TagBatcher tags_{[this](const std::vector<TagBatcher::Update>& batch,
                          std::vector<std::optional<Error>>&) { commit_tags(batch); }};
};

}  // namespace raycluster::detail::gce
