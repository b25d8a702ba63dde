// Ray's cluster_synced_files: paths on the head copied to every worker after
// the file mounts (Ray's updater syncs them from the head to the workers it
// sets up; a path the head does not have is skipped).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "spec/spec.hpp"
#include "util/command_runner.hpp"

namespace raycluster::detail {

// Local copies of the head's cluster_synced_files, in a folder of its own
// under the cluster's state folder, removed with the object.
class SyncedFiles {
 public:
  // Fetches each path of spec.cluster_synced_files that exists on the head
  // (through `head`, the head's runner) into `state_dir`. Throws Error when
  // a path the head has cannot be fetched.
  SyncedFiles(const ClusterSpec& spec, CommandRunner& head, const std::string& state_dir);
  ~SyncedFiles();
  SyncedFiles(const SyncedFiles&) = delete;
  SyncedFiles& operator=(const SyncedFiles&) = delete;

  // (path on the workers, local copy), as the updater's synced_files.
  const std::vector<std::pair<std::string, std::string>>& files() const { return files_; }
  // The paths the head does not have.
  const std::vector<std::string>& missing() const { return missing_; }

 private:
  std::string dir_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::vector<std::string> missing_;
};

// The shell words of a path as the head's shell should see it: a leading
// "~/" stays unquoted (so that it expands), the rest is quoted.
std::string head_path_words(const std::string& path);

}  // namespace raycluster::detail
