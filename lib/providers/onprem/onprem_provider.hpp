// The on-prem provider (Ray's `provider: {type: local}`): the nodes are
// machines that already exist, listed as head_ip and worker_ips, reached over
// SSH. "Creating" a node claims a machine for the cluster; "terminating" it
// runs provider.stop_commands on it (default `ray stop`) and releases it. A
// machine is never shut down.
//
// State: <state_dir>/onprem.json holds one record per claimed machine (its
// address is the node id, as in Ray), guarded by onprem.lock so that a
// running monitor and a command line never claim one machine twice.
#pragma once

#include <mutex>
#include <string>

#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "providers/common/provider.hpp"
#include "providers/common/tag_batcher.hpp"
#include "util/value.hpp"

namespace raycluster::detail {

class OnpremProvider : public Provider {
 public:
  // Of the context it uses the clock (launch times) and the environment
  // (the SSH agent); it makes no API calls.
  OnpremProvider(const ClusterSpec& spec, ClusterIdentity identity, ProviderContext context = {});

  std::string name() const override { return "local"; }
  void bootstrap(const EventSink& events, const CancelToken& cancel) override;
  std::vector<Node> create(const LaunchRequest& request) override;
  std::vector<Node> list(const Tags& filter) override;
  // Stops Ray on each machine, then releases it. Machines whose stop
  // commands fail stay claimed (a later `down` tries again) and are named in
  // the Error thrown once every machine was tried.
  void terminate(const std::vector<std::string>& node_ids) override;
  void set_tags(const std::vector<std::string>& node_ids, const Tags& tags) override;
  // Setup progress goes out with the next commit, or within a second.
  void post_tags(const std::vector<std::string>& node_ids, const Tags& tags) override {
    tags_.post(node_ids, tags);
  }
  std::unique_ptr<CommandRunner> command_runner(const Node& node) override;
  // Volumes are folders on the head machine, ~/raycluster-volumes/<cluster>/<name>,
  // made over SSH and deleted only by delete_volume (onprem_volumes.cpp).
  bool supports_storage() const override { return true; }
  std::vector<Volume> list_volumes(const CancelToken& cancel) override;
  VolumeAttachment attach_volume(const VolumeSpec& volume, const Node& node,
                                 const CancelToken& cancel) override;
  void delete_volume(const Volume& volume, const CancelToken& cancel) override;

 private:
  // The head machine, for the volumes' commands.
  Node head_machine() const;
  // Runs a command on the head machine; its exit status.
  int run_on_head(const std::string& command, const CancelToken& cancel, std::string* output);
  // Runs fn(state) under the cross-process lock; saves when it returns true.
  template <typename Fn>
  auto with_state(Fn&& fn);
  Node to_node(const std::string& ip, const Value& rec) const;
  void commit_tags(const std::vector<TagBatcher::Update>& batch,
                   std::vector<std::optional<Error>>& errors);

  const ClusterSpec& spec_;
  ClusterIdentity identity_;
  ProviderContext ctx_;
  std::string state_path_;
  std::string lock_path_;
  std::mutex mu_;  // held while the state file is read and written

  // Status changes of many nodes share one durable write (see TagBatcher).
  TagBatcher tags_;
};

}  // namespace raycluster::detail
