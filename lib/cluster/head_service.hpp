// Internal: installs, updates, stops and reads the head autoscaler (see
// head_autoscaler.hpp for its folder) through a command runner on the head.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "cluster/head_autoscaler.hpp"

namespace raycluster::detail {

// How the head is reached.
struct HeadAccess {
  CommandRunner& runner;
  std::map<std::string, std::string> env;  // for every command on the head
  bool local_node = false;  // the localhost provider: a node folder on this machine
};

// What `status` shows of the head autoscaler.
struct HeadAutoscalerState {
  bool installed = false;  // its folder is on the head
  std::string service;     // "systemd-user", "systemd-system", "loop" or "none"
  bool alive = false;      // its supervisor (or unit) runs
  bool monitor_alive = false;
  Value status;            // its status.json (pid, ticks, last_tick, last_decision), or null
  std::string dir;         // its folder on the head
};

class HeadAutoscalerService {
 public:
  using Info = std::function<void(const std::string& message, LogLevel level)>;
  // `state_root` is RAYCLUSTER_HOME here; `state_dir` the cluster's folder.
  HeadAutoscalerService(const ClusterSpec& spec, std::string cluster_id, std::string state_root,
                        std::string state_dir, Info info);

  // Changes the spec the head gets (the provider's adjust_head_spec); may be empty.
  std::function<void(Value&)> adjust_spec;

  // Sends what changed and (re)starts the service; nothing when its inputs
  // match what the head runs and it is alive. Throws Error.
  void install(HeadAccess& head, const CancelToken& cancel);
  // True when `install` ran from this machine since the last `stop`.
  bool installed_from_here() const;
  // Stops it (and waits until it has ended); true when one was running.
  bool stop(HeadAccess& head);
  HeadAutoscalerState read(HeadAccess& head);
  // Copies the state file `name` of the cluster's folder to the head
  // autoscaler's (SSH heads; the localhost head shares this folder).
  void push_state_file(HeadAccess& head, const std::string& name);
  // Replaces the state file `name` here with the head autoscaler's copy,
  // when it has one: while it runs, it is the one that changes it.
  void pull_state_file(HeadAccess& head, const std::string& name);
  // Removes the head autoscaler's copy of the state file `name`.
  void drop_state_file(HeadAccess& head, const std::string& name);
  // A shell command on the head printing its log (following it with `follow`).
  std::string log_command(bool local_node, bool follow) const;
  // The folder on the head, "~/..." (a localhost head's "~" is its node folder).
  std::string remote_dir(bool local_node) const;

 private:
  std::string shell_dir(bool local_node) const;
  std::string stage_files(bool local_node, std::string& bundle_manifest_text,
                          std::vector<BundleFile>& bundle);
  bool bundle_current(HeadAccess& head, const std::string& manifest);
  void send_bundle(HeadAccess& head, const std::vector<BundleFile>& bundle, const std::string& manifest);
  CommandResult run(HeadAccess& head, const std::string& command, std::string* out = nullptr);

  const ClusterSpec& spec_;
  std::string cluster_id_;
  std::string state_root_;
  std::string state_dir_;
  std::string stage_;  // local staging folder of what the head gets
  Info info_;
};

}  // namespace raycluster::detail
