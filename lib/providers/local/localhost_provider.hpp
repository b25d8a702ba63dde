// The localhost provider: each node is a set of local process sessions with
// its own working folder, loopback address and ports, so that several real
// Ray nodes (and several clusters) share this machine.
//
// State, under the cluster's folder:
//   localhost.json      address block and head ports of the cluster
//   nodes/<id>.json     one record per node (written atomically)
//   nodes/<id>/         the node's working folder
// Every command of a node runs with RAYCLUSTER_NODE=<cluster id>/<node id>, so
// terminate() finds all of the node's processes even after a crash of the
// process that started them.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>
#include <string>

#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "providers/common/provider.hpp"
#include "util/value.hpp"

namespace raycluster::detail {

class LocalhostProvider : public Provider {
 public:
  // Of the context it uses the clock (launch times); it makes no API calls.
  LocalhostProvider(const ClusterSpec& spec, ClusterIdentity identity, ProviderContext context = {});

  std::string name() const override { return "localhost"; }
  void bootstrap(const EventSink& events, const CancelToken& cancel) override;
  std::vector<Node> create(const LaunchRequest& request) override;
  std::vector<Node> list(const Tags& filter) override;
  void terminate(const std::vector<std::string>& node_ids) override;
  void set_tags(const std::vector<std::string>& node_ids, const Tags& tags) override;
  std::unique_ptr<CommandRunner> command_runner(const Node& node) override;
  std::map<std::string, std::string> node_environment(const Node& node) override;
  void reset_runtime(const Node& node) override;
  std::string dashboard_url(const Node& head) override;
  // Every node's processes listen on its own loopback address.
  std::string direct_address(const Node& node) override { return node.internal_ip; }
  std::string start_lock_path() override { return identity_.state_dir + "/ray-start.lock"; }
  // Ends every process carrying this cluster's marker, node or not.
  void teardown(const EventSink& events, const CancelToken& cancel) override;
  std::string ray_temp_dir() const;

 private:
  Value load_cluster_state();
  void save_cluster_state(const Value& v);
  std::string node_dir(const std::string& id) const;
  std::string record_path(const std::string& id) const;
  Value load_record(const std::string& id);  // null when absent
  void save_record(const Value& rec);
  Node to_node(const Value& rec) const;
  void record_session(const std::string& id, pid_t sid);
  // The sessions of the node's processes, recorded or found by marker.
  std::set<pid_t> node_sessions(const Value& rec);

  const ClusterSpec& spec_;
  ClusterIdentity identity_;
  ProviderContext ctx_;
  std::string nodes_dir_;
  std::mutex mu_;
};

}  // namespace raycluster::detail
