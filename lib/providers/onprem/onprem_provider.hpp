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

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "providers/factory.hpp"
#include "raycluster/error.hpp"
#include "raycluster/provider.hpp"
#include "raycluster/value.hpp"

namespace raycluster::detail {

class OnpremProvider : public Provider {
 public:
  OnpremProvider(const ClusterSpec& spec, ClusterIdentity identity);

  std::string name() const override { return "local"; }
  void bootstrap(const EventSink& events, const CancelToken& cancel) override;
  std::vector<Node> create(const LaunchRequest& request) override;
  std::vector<Node> list(const Tags& filter) override;
  // Stops Ray on each machine, then releases it. Machines whose stop
  // commands fail stay claimed (a later `down` tries again) and are named in
  // the Error thrown once every machine was tried.
  void terminate(const std::vector<std::string>& node_ids) override;
  void set_tags(const std::vector<std::string>& node_ids, const Tags& tags) override;
  std::unique_ptr<CommandRunner> command_runner(const Node& node) override;

 private:
  // Runs fn(state) under the cross-process lock; saves when it returns true.
  template <typename Fn>
  auto with_state(Fn&& fn);
  Node to_node(const std::string& ip, const Value& rec) const;

  const ClusterSpec& spec_;
  ClusterIdentity identity_;
  std::string state_path_;
  std::string lock_path_;
  std::mutex mu_;  // held while the state file is read and written

  // Tag updates are committed in groups: every node reports each status
  // change, and one durable write per change would queue dozens of fsyncs
  // behind each other when many nodes start at once. An update waits for the
  // write that includes it; updates that arrive meanwhile share the next one.
  struct TagUpdate {
    std::uint64_t seq;
    std::vector<std::string> ids;
    Tags tags;
  };
  std::mutex tags_mu_;
  std::condition_variable tags_cv_;
  std::vector<TagUpdate> pending_tags_;
  struct TagError {
    std::uint64_t seq;
    ErrorCode code;
    std::string message;
  };
  std::vector<TagError> tag_errors_;
  std::uint64_t tags_seq_ = 0;
  std::uint64_t tags_committed_ = 0;
  bool tags_writing_ = false;
};

}  // namespace raycluster::detail
