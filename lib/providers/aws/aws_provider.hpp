// The EC2 provider: nodes are EC2 instances tagged with Ray's tag names and
// the cluster id, reached over SSH.
//
// bootstrap() finds or creates, each step reusing what exists: the subnets
// (configured ones, else the default VPC's, in availability_zone order), the
// key pair (the public half of auth.ssh_private_key imported, or a new key
// pair whose PEM is saved 0600 in the cluster's state folder), the security
// group `raycluster-<cluster>` (all traffic from itself, SSH from the
// caller's address only) and the default Ubuntu image.
//
// Instances are found by their ray-cluster-name tag. Those with another
// raycluster-id than this state folder's are never listed, stopped or
// terminated: bootstrap() warns about them and teardown() reports them.
//
// Retries: every request goes through one RetryingTransport (throttling,
// 5xx); the provider itself only moves on to the next zone after a capacity
// error and waits out EC2's eventual consistency right after a launch.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "providers/aws/ec2_client.hpp"
#include "providers/aws/ec2_xml.hpp"
#include "providers/aws/volumes.hpp"
#include "providers/aws/iam.hpp"
#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "providers/common/provider.hpp"
#include "providers/common/tag_batcher.hpp"
#include "providers/common/zone_cooldown.hpp"
#include "http/http.hpp"

namespace raycluster::detail::ec2 {

// Where one node type launches.
struct Placement {
  std::string subnet_id;  // empty when NetworkInterfaces name the subnets
  std::string zone;
};

class AwsProvider : public Provider {
 public:
  // Resolves region and endpoint at once (Error(config) without a region);
  // credentials on the first request: from context.aws_credentials, else
  // the default chain read from context.env. Everything the provider
  // touches comes from the context (see providers/common/context.hpp).
  AwsProvider(const ClusterSpec& spec, ClusterIdentity identity, ProviderContext context = {});
  ~AwsProvider() override;

  std::string name() const override { return "aws"; }
  void bootstrap(const EventSink& events, const CancelToken& cancel) override;
  std::vector<Node> create(const LaunchRequest& request) override;
  std::vector<Node> list(const Tags& filter) override;
  void terminate(const std::vector<std::string>& node_ids) override;
  void set_tags(const std::vector<std::string>& node_ids, const Tags& tags) override;
  // Setup progress goes out with the next commit, or within a second.
  void post_tags(const std::vector<std::string>& node_ids, const Tags& tags) override {
    tags_.post(node_ids, tags);
  }
  std::unique_ptr<CommandRunner> command_runner(const Node& node) override;
  void teardown(const EventSink& events, const CancelToken& cancel) override;
  std::vector<std::string> cluster_ids_in_use(const CancelToken& cancel) override;
  // A plain-http endpoint anywhere but this machine: signatures and any
  // session token would travel unencrypted.
  std::vector<std::string> warnings() const override;
  // From DescribeInstanceTypes of node_config's InstanceType, cached per
  // region and type in memory and in the state folder (instance_types.json);
  // empty without an InstanceType (a LaunchTemplate alone).
  std::map<std::string, double> node_type_resources(const NodeTypeSpec& type, bool head,
                                                    const CancelToken& cancel) override;
  // The head's IAM role and instance profile (providers/aws/iam.hpp).
  bool makes_head_identity() const override { return true; }
  void prepare_head_identity(const EventSink& events, const CancelToken& cancel) override;
  std::vector<std::string> resolved_ssh_cidrs() const override;
  // The instance profile prepare_head_identity() made ready, or empty.
  std::string head_instance_profile() const;

  // Storage: EBS volumes tagged with the cluster's name and id and
  // raycluster-volume=<name> from creation (volumes.cpp). The head launches
  // in the zone of its existing volumes; a new volume is made in its node's zone.
  bool supports_storage() const override { return true; }
  std::vector<Volume> list_volumes(const CancelToken& cancel) override;
  void place_head_near(const std::vector<Volume>& head_volumes) override;
  VolumeAttachment attach_volume(const VolumeSpec& volume, const Node& node,
                                 const CancelToken& cancel) override;
  void detach_volume(const Volume& volume, const CancelToken& cancel) override;
  void delete_volume(const Volume& volume, const CancelToken& cancel) override;

  // For tests and messages.
  const std::string& region() const { return region_; }
  const std::string& endpoint() const { return client_->endpoint(); }
  // The key pair and private key file nodes use (after bootstrap, or found on disk).
  std::string key_name() const;
  std::string key_path() const;
  std::string security_group_id() const;
  std::vector<Placement> placements(const std::string& node_type) const;
  std::string image_for(const std::string& node_type) const;
  // Instances named like this cluster that carry another raycluster-id, as
  // seen by the last listing: id -> their raycluster-id.
  std::map<std::string, std::string> foreign_instances() const;

 private:
  struct TypeLaunch {
    std::vector<Placement> placements;
    std::vector<std::string> security_groups;  // added when node_config has none
    std::string image_id;                      // added when node_config has none
    std::string key_name;                      // added when node_config has none
  };

  void bootstrap_locked(const EventSink& events, const CancelToken& cancel);
  void warn_of_foreign_instances(const EventSink& events, const CancelToken& cancel);
  std::map<std::string, TypeLaunch> place_node_types(std::set<std::string>& vpcs,
                                                     const CancelToken& cancel);
  std::string security_group_for(std::map<std::string, TypeLaunch>& launch,
                                 const std::set<std::string>& vpcs, const EventSink& events,
                                 const CancelToken& cancel);
  std::vector<Subnet> describe_subnets(const std::vector<std::string>& ids, bool defaults,
                                       const CancelToken& cancel);
  std::string ensure_security_group(const std::string& vpc_id, const EventSink& events,
                                     const CancelToken& cancel);
  void ensure_key_pair(const EventSink& events, const CancelToken& cancel);
  void create_key_pair(const std::string& name, const std::string& file, bool replace,
                       const Tags& key_tags, const CancelToken& cancel);
  // The cluster's default image for the architecture: the one pinned in the
  // state folder, else the newest Ubuntu LTS (then pinned).
  std::string default_image(bool arm, const CancelToken& cancel);
  std::string latest_default_image(const std::string& arch, const CancelToken& cancel);
  std::string image_pin_path() const;
  InstanceTypeInfo instance_type_info(const std::string& type, const CancelToken& cancel);

  // Instances tagged with the cluster's name in these states, every page.
  std::vector<Instance> describe_cluster(const std::vector<std::string>& states,
                                         const CancelToken& cancel = {});
  std::vector<Instance> describe_ids(const std::vector<std::string>& ids);
  // Splits off instances of another cluster id (remembered for reports).
  std::vector<Instance> ours(std::vector<Instance> all);
  Node to_node(const Instance& in) const;
  std::vector<Instance> run_instances(const LaunchRequest& request, const TypeLaunch& launch,
                                      int count, const std::string& token_prefix);
  void terminate_ids(const std::vector<std::string>& ids, std::vector<std::string>* failures);
  void start_stop(const char* action, const std::vector<std::string>& ids);
  void commit_tags(const std::vector<TagBatcher::Update>& batch);
  // One CreateTags/DeleteTags call per chunk of ids.
  void tag_call(const char* action, const std::vector<std::string>& ids, const QueryParams& tag_params);
  std::string key_file_for(const std::string& name) const;
  // volumes.cpp: the cluster's volumes (of one name, or all), not deleted.
  std::vector<EbsVolume> describe_volumes(const std::string& name, const CancelToken& cancel);
  EbsVolume wait_volume(const std::string& name, const std::string& what,
                        const std::function<bool(const EbsVolume&)>& done, const CancelToken& cancel);
  EbsVolume create_volume(const VolumeSpec& volume, const std::string& zone,
                          const CancelToken& cancel);
  // The placements of a head launch: only the zone of its volumes, if any.
  std::vector<Placement> head_placements(std::vector<Placement> all) const;
  // The IAM client (made on first use) and the head role's names.
  Client& iam();
  HeadRoleRequest head_role_request() const;
  void remove_head_identity(const EventSink& events, const CancelToken& cancel);
  // RunInstances; with a new instance profile, also after the seconds IAM
  // takes before EC2 accepts it ("Invalid IAM Instance Profile"), bounded.
  std::string launch_call(const QueryParams& params, bool new_profile);

  const ClusterSpec& spec_;
  ClusterIdentity identity_;
  ProviderContext ctx_;  // with defaults
  std::shared_ptr<HttpTransport> transport_;  // the context's, or a libcurl one
  std::unique_ptr<RetryingTransport> retrying_;
  std::unique_ptr<Client> client_;
  std::shared_ptr<CredentialsSource<AwsCredentials>> credentials_;
  std::unique_ptr<Client> iam_;
  std::string region_;

  std::mutex boot_mu_;  // one bootstrap at a time
  std::mutex types_mu_;  // instance_types_ and its file; held while asking EC2
  std::map<std::string, InstanceTypeInfo> instance_types_;
  mutable std::mutex mu_;  // the state below; never held during a request
  bool bootstrapped_ = false;
  std::map<std::string, TypeLaunch> launch_;  // by node type
  std::string key_name_;
  std::string key_path_;
  std::string sg_id_;
  std::vector<std::string> ssh_cidrs_;  // found by checkip at bootstrap
  std::string head_profile_;
  std::map<std::string, std::string> foreign_;
  std::string head_zone_;         // the zone of the head's volumes (place_head_near)
  std::string head_zone_reason_;  // "<volume> in <zone>", for messages
  ZoneCooldown cooldown_;
  // Concurrent set_tags() calls (the updater's status changes) share calls.
  TagBatcher tags_{[this](const std::vector<TagBatcher::Update>& batch,
                          std::vector<std::optional<Error>>&) { commit_tags(batch); }};
};

// The ClientToken of one RunInstances attempt: stable for the same launch
// request, subnet and count, distinct across subnets; at most 64 ASCII
// characters. All tokens of one request share token_prefix(request token).
std::string token_prefix(const std::string& idempotency_token);
std::string client_token(const std::string& idempotency_token, const std::string& subnet_id,
                         int count);

}  // namespace raycluster::detail::ec2
