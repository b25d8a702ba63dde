// CommandRunner for localhost nodes: each command is a local session.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "util/command_runner.hpp"

namespace raycluster::detail {

class LocalRunner : public CommandRunner {
 public:
  // node_dir: the node's working folder, where `~` of remote paths points.
  // marker: value of RAYCLUSTER_NODE in every command's environment, by which
  // the provider finds the node's processes. on_session: told each command's
  // session id before it runs further.
  LocalRunner(std::string node_id, std::string node_dir, std::string marker,
              std::function<void(pid_t)> on_session);

  CommandResult run(const std::string& command, const CommandOptions& options) override;
  void upload(const std::string& local_path, const std::string& remote_path) override;
  void download(const std::string& remote_path, const std::string& local_path) override;
  std::string describe() const override;

  // A remote path of this node as a path on this machine; throws
  // Error(invalid_argument) for paths outside the node's folder.
  std::string resolve(const std::string& remote_path) const;

 private:
  std::string node_id_;
  std::string node_dir_;
  std::string marker_;
  std::function<void(pid_t)> on_session_;
};

}  // namespace raycluster::detail
