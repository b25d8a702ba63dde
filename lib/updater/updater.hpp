// The per-node setup state machine.
//
// waiting-for-ssh -> syncing-files -> setting-up -> up-to-date | update-failed
// Each status change is written to the node's tags through the provider (so
// the cloud, not this process, remembers it) and reported as an Event.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "util/command_runner.hpp"
#include "util/event.hpp"
#include "util/node.hpp"
#include "providers/common/provider.hpp"

namespace raycluster::detail {

struct SetupPlan {
  std::vector<std::pair<std::string, std::string>> file_mounts;  // remote, local
  std::vector<std::string> initialization_commands;
  std::vector<std::string> setup_commands;
  std::vector<std::string> start_commands;
  std::map<std::string, std::string> env;  // for every command
  std::string runtime_hash;                // tagged on success
  std::string start_lock_path;             // held while start commands run; empty: none
  std::string file_mounts_hash;
  // Ray's rsync_exclude and rsync_filter: what file mounts leave out (see
  // rsync_rules.hpp).
  std::vector<std::string> rsync_exclude;
  std::vector<std::string> rsync_filter;
  // Ray's cluster_synced_files for a worker (remote, local copy of the
  // head's), copied after the file mounts, filtered alike.
  std::vector<std::pair<std::string, std::string>> synced_files;
  // Only the files are copied, then the node is tagged up to date: their
  // contents changed and the rest of its setup is current
  // (file_mounts_sync_continuously). No command runs.
  bool files_only = false;
  // Called before the start commands; false ends the update as cancelled
  // (the node keeps its setup and is started by a later run). Workers use it
  // to wait for their head while their own setup overlaps the head's.
  std::function<bool(const CancelToken&)> before_start;
};

struct UpdaterOptions {
  std::chrono::milliseconds command_timeout{0};
  int attempts = 2;  // tries per step
  std::chrono::milliseconds retry_backoff{1000};
  // How long the node may take to accept a first command.
  std::chrono::milliseconds ready_deadline{std::chrono::seconds(900)};
};

struct UpdateResult {
  bool ok = false;
  bool cancelled = false;
  std::string failed_step;  // "file mounts", "setup", ...
  std::string command;      // the failing command, when one failed
  int exit_status = 0;       // -1: the command never ran to an exit (connection, upload)
  std::string output_tail;
  std::string summary() const;  // one line for messages and tags
};

// Sets one node up. Thread-safe for distinct nodes. The sink must be safe to
// call from several threads (the cluster serialises it).
UpdateResult update_node(const Node& node, const SetupPlan& plan, Provider& provider,
                         CommandRunner& runner, const UpdaterOptions& options,
                         const EventSink& events, const CancelToken& cancel);

}  // namespace raycluster::detail
