// The localhost provider: each node is a set of local process sessions with
// its own working folder, loopback address and ports, so that several real
// Ray nodes (and several clusters) share this machine.
//
// State, under the cluster's folder:
//   localhost.json      address block and head ports of the cluster
//   nodes/<id>.json     one record per node (written atomically)
//   nodes/<id>/         the node's working folder
// Containment: every process started for a node (its setup and start
// commands, `ray start` and Ray's daemons, anything else run through
// command_runner(node)) is found and ended by terminate(), by down and on
// scale-down, even after a crash of the process that started it:
//   * each command runs under a keeper (ProcessSpec::contain): a child
//     subreaper leading the command's session, so a descendant that detaches
//     (setsid, double fork, nohup, env -i) re-parents to the keeper and stays
//     in its tree. The keeper's pid and start time go into the node's record
//     before the command runs; terminate() ends the keeper's descendants,
//     then the keeper;
//   * as fallbacks, every member of a recorded session, and every process
//     whose environment still has RAYCLUSTER_NODE=<cluster id>/<node id>
//     (with its session), should a keeper have been killed from outside.
// A process found only as a descendant of a node's own keeper, in a session
// the node's commands made, or by the node's marker belongs to the node, so
// nothing of another node or of the user is touched.
// Why not a cgroup per node: a non-root user has one only where systemd
// delegates a subtree (cgroup v2), not on cgroup v1 or hybrid hosts nor in
// most containers, so a fallback for every case would be needed anyway; the
// subreaper needs no privilege and works on every Linux since 3.4. What it
// cannot hold: a process that makes itself a subreaper's child elsewhere
// (ptrace re-parenting, a daemon handed to systemd through D-Bus).
#pragma once

#include <sys/types.h>

#include <mutex>
#include <set>
#include <string>

#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "providers/common/provider.hpp"
#include "util/process.hpp"
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
  int gcs_port(const Node& head) override;
  // Every node's processes listen on its own loopback address.
  std::string direct_address(const Node& node) override { return node.internal_ip; }
  // Only for a `ray start` without --temp-dir: the default commands give
  // each worker its own (RAYCLUSTER_NODE_RAY_TEMP_DIR), so they start at once.
  std::string start_lock_path(const std::vector<std::string>& start_commands) override;
  // Ends every process carrying this cluster's marker, node or not.
  void teardown(const EventSink& events, const CancelToken& cancel) override;
  std::string ray_temp_dir() const;
  // A worker's own Ray folder (sockets, logs): short, as Ray's unix socket
  // paths below it must stay within 107 bytes.
  std::string node_ray_temp_dir(const std::string& id) const;
  // Volumes are folders under the cluster's state folder (volumes/<name>),
  // kept through `down`; every node of the volume's types sees the one folder.
  bool supports_storage() const override { return true; }
  std::vector<Volume> list_volumes(const CancelToken& cancel) override;
  VolumeAttachment attach_volume(const VolumeSpec& volume, const Node& node,
                                 const CancelToken& cancel) override;
  void delete_volume(const Volume& volume, const CancelToken& cancel) override;

 private:
  Value load_cluster_state();
  void save_cluster_state(const Value& v);
  std::string node_dir(const std::string& id) const;
  std::string record_path(const std::string& id) const;
  Value load_record(const std::string& id);  // null when absent
  void save_record(const Value& rec);
  Node to_node(const Value& rec) const;
  // Records a keeper of the node (its pid and start time) before it runs its command.
  void record_session(const std::string& id, pid_t keeper);
  // The node's processes: its recorded keepers and their descendants, their
  // sessions, and the sessions of processes found by marker.
  ProcessScope node_scope(const Value& rec);

  const ClusterSpec& spec_;
  ClusterIdentity identity_;
  ProviderContext ctx_;
  std::string nodes_dir_;
  std::mutex mu_;
};

}  // namespace raycluster::detail
