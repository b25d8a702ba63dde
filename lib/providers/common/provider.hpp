// raycluster: the node provider interface.
//
// A Provider owns the cloud side of one cluster: it creates, lists, tags and
// terminates nodes. It is batch-first (one call creates `count` nodes) and the
// cloud (or the local state folder) is the source of truth: list() always
// asks it. Every node a provider creates carries its tags from the start.
// Thread-safety: implementations are safe to call from several threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "providers/common/volumes.hpp"
#include "util/command_runner.hpp"
#include "util/error.hpp"
#include "util/event.hpp"
#include "util/node.hpp"
#include "spec/spec.hpp"

namespace raycluster {

using Tags = std::map<std::string, std::string>;

struct LaunchRequest {
  const NodeTypeSpec* node_type = nullptr;
  NodeKind kind = NodeKind::worker;
  int count = 1;
  Tags tags;  // all of them go on at creation
  // The same token always names the same launch: a retried create() with it
  // returns the nodes of the first call instead of launching again.
  std::string idempotency_token;
  // Where the provider reports the launch's progress; empty: nowhere.
  EventSink events;
};

class Provider {
 public:
  virtual ~Provider() = default;

  virtual std::string name() const = 0;
  // Creates (or reuses) what nodes need before the first launch.
  virtual void bootstrap(const EventSink& events, const CancelToken& cancel) = 0;
  virtual std::vector<Node> create(const LaunchRequest& request) = 0;
  // Live (not terminated) nodes of this cluster whose tags include `filter`.
  virtual std::vector<Node> list(const Tags& filter) = 0;
  // Ends the nodes; returns once each is terminating. Unknown ids are ignored.
  virtual void terminate(const std::vector<std::string>& node_ids) = 0;
  // Adds or replaces tags; an empty value removes the tag.
  virtual void set_tags(const std::vector<std::string>& node_ids, const Tags& tags) = 0;
  // As set_tags, for tags that only report progress (a node's setup status
  // while it runs): the provider may write them a little later, merged with
  // newer ones, and returns at once; errors are not reported. A later
  // set_tags of the same nodes supersedes them. Default: set_tags.
  virtual void post_tags(const std::vector<std::string>& node_ids, const Tags& tags) {
    set_tags(node_ids, tags);
  }
  // A runner for commands on the node.
  virtual std::unique_ptr<CommandRunner> command_runner(const Node& node) = 0;
  // Environment the provider adds to every command on the node.
  virtual std::map<std::string, std::string> node_environment(const Node& node) {
    (void)node;
    return {};
  }
  // Ends what an earlier setup of the node started, before setup runs again.
  // Clouds rely on the start commands (`ray stop`); the localhost provider,
  // whose nodes share one machine, ends the node's own processes here.
  virtual void reset_runtime(const Node& node) { (void)node; }
  // Called by a full `down` once every node is terminated: ends whatever of
  // the cluster is left without a node (the localhost provider: processes a
  // crashed run started). Throws Error when something could not be ended.
  virtual void teardown(const EventSink& events, const CancelToken& cancel) {
    (void)events;
    (void)cancel;
  }
  // Adjusts the spec the head autoscaler gets (Ray's schema, as JSON): e.g.
  // names the head's own cloud identity and drops this machine's
  // credentials, which never go to the head. Default: as it is.
  virtual void adjust_head_spec(Value& spec) const { (void)spec; }
  // A lock file that a node's start commands (`start_commands`) must hold,
  // one node at a time, or empty for none. The localhost provider needs it
  // only for a `ray start` without a folder of its own: Ray then picks socket
  // and log names in the head's shared session folder by trying names one
  // after another, and two raylets starting at once on one machine take the
  // same sockets (all but one time out registering).
  virtual std::string start_lock_path(const std::vector<std::string>& start_commands) {
    (void)start_commands;
    return {};
  }
  // The address at which this machine reaches the node's ports directly, or
  // empty when only a tunnel through command_runner() reaches them (clouds
  // keep every port but SSH closed).
  virtual std::string direct_address(const Node& node) {
    (void)node;
    return {};
  }
  // A URL at which this machine reaches the head's dashboard directly, or
  // empty when only a tunnel reaches it (clouds keep port 8265 closed).
  virtual std::string dashboard_url(const Node& head) {
    (void)head;
    return {};
  }
  // The port of Ray's GCS on the head, or 0 for the config's gcs_port (the
  // localhost provider picks its own per cluster).
  virtual int gcs_port(const Node& head) {
    (void)head;
    return 0;
  }
  // What the user should know about how this provider reaches its cloud,
  // found when it was made (e.g. an endpoint without TLS); a Cluster reports
  // each as a warning event once, with its first operation.
  virtual std::vector<std::string> warnings() const { return {}; }
  // The cluster ids (the raycluster-id tag) carried by the live nodes named
  // after this cluster that the provider finds, whatever state folder
  // launched them; empty where node records live in the state folder
  // itself. Lets a new state folder take over a cluster whose folder was
  // lost (see Cluster::open).
  virtual std::vector<std::string> cluster_ids_in_use(const CancelToken& cancel) {
    (void)cancel;
    return {};
  }
  // True when prepare_head_identity() can give the head cloud credentials of
  // its own (so the autoscaler can run there) where the config names none.
  virtual bool makes_head_identity() const { return false; }
  // Called by `up` before anything is launched, when the autoscaler is to
  // run on the head and the head's node_config gives it no cloud identity:
  // creates (or reuses) the least-privileged identity the head autoscaler
  // needs, which the head is then launched with; a full `down` removes it
  // in teardown(). Throws Error (auth, naming the refused call) when the
  // cloud refuses, after removing what it made.
  virtual void prepare_head_identity(const EventSink& events, const CancelToken& cancel) {
    (void)events;
    (void)cancel;
  }
  // The addresses bootstrap() let reach SSH, when it found them itself
  // (checkip); the head autoscaler is given them, so that it neither asks
  // checkip nor opens SSH to the head's own address. Empty: none found.
  virtual std::vector<std::string> resolved_ssh_cidrs() const { return {}; }
  // The resources a node of `type` has, as the cloud describes its machine
  // (Ray's fillout_available_node_types_resources: CPU, GPU,
  // accelerator_type:*, memory for workers); the Cluster adds the ones the
  // config does not give. Empty where the provider cannot tell (the default).
  // Answers may be cached; throws Error when the cloud refuses or does not
  // know the machine type.
  virtual std::map<std::string, double> node_type_resources(const NodeTypeSpec& type, bool head,
                                                            const CancelToken& cancel) {
    (void)type;
    (void)head;
    (void)cancel;
    return {};
  }

  // ---- Storage: the named volumes of the config's `storage:` section ----
  // Providers without it keep the defaults: supports_storage() false, and
  // `up` refuses a config with volumes before it launches anything.
  virtual bool supports_storage() const { return false; }
  // The cluster's volumes (by the cluster id and volume names), attached or not.
  virtual std::vector<Volume> list_volumes(const CancelToken& cancel) {
    (void)cancel;
    return {};
  }
  // Before the head launches: existing volumes of the head decide its zone
  // (a zonal disk attaches only in its zone). Default: nothing.
  virtual void place_head_near(const std::vector<Volume>& head_volumes) { (void)head_volumes; }
  // Finds the volume (creating it, tagged from creation, in the node's zone
  // when absent) and attaches it to the node; returns where it shows up.
  // Idempotent: a volume already attached to the node is left so. Throws
  // Error(conflict) when it is attached to another node, Error(invalid_request)
  // when it is in another zone than the node.
  virtual VolumeAttachment attach_volume(const VolumeSpec& volume, const Node& node,
                                         const CancelToken& cancel) {
    (void)volume;
    (void)node;
    (void)cancel;
    throw Error(ErrorCode::unsupported, "the " + name() + " provider has no storage");
  }
  // Detaches the volume from its node (kept); waits until it is detached.
  virtual void detach_volume(const Volume& volume, const CancelToken& cancel) {
    (void)volume;
    (void)cancel;
  }
  // Deletes the volume and its data (only `down --delete-storage`).
  virtual void delete_volume(const Volume& volume, const CancelToken& cancel) {
    (void)volume;
    (void)cancel;
    throw Error(ErrorCode::unsupported, "the " + name() + " provider has no storage");
  }
};

}  // namespace raycluster
