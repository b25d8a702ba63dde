// raycluster: running commands on a node.
//
// A CommandRunner executes shell commands on one node and moves files to and
// from it. The localhost provider runs commands as local process groups; the
// SSH layer runs them over libssh. Implementations are used from one thread
// at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "util/event.hpp"

namespace raycluster {

struct CommandOptions {
  // Extra environment for the command (RAY_HEAD_IP, ...).
  std::map<std::string, std::string> env;
  // Kill the command after this long; zero means no limit.
  std::chrono::milliseconds timeout{0};
  // Called for each complete output line (without the newline).
  std::function<void(std::string_view line, bool is_stderr)> on_line;
  // Killing the command when cancelled.
  CancelToken cancel;
};

struct CommandResult {
  int exit_status = -1;  // the command's exit status; 128+N when killed by signal N
  bool timed_out = false;
  bool cancelled = false;
  std::string output_tail;  // the last lines of stdout and stderr, interleaved

  bool ok() const noexcept { return exit_status == 0 && !timed_out && !cancelled; }
};

// A local TCP listener on 127.0.0.1 whose connections are carried to
// remote_host:remote_port as seen from the node; serves several connections
// at once (SSH: multiplexed over one connection owned by the forward, served
// by one thread). Stops (closing every carried connection) on destruction.
class PortForward {
 public:
  virtual ~PortForward() = default;
  virtual int local_port() const = 0;
  // Connections accepted so far.
  virtual std::uint64_t connections() const = 0;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs `command` with bash; blocks until it exits, times out or is cancelled.
  virtual CommandResult run(const std::string& command, const CommandOptions& options) = 0;
  // Copies a local file or folder to the node (folders recursively).
  virtual void upload(const std::string& local_path, const std::string& remote_path) = 0;
  // Copies a file or folder from the node.
  virtual void download(const std::string& remote_path, const std::string& local_path) = 0;
  // For messages: which node and how it is reached.
  virtual std::string describe() const = 0;

  // Returns once the node accepts commands. The default runs `uptime` until
  // it succeeds, pausing 0.5 s and doubling up to 10 s; runners that can tell
  // sooner override it (SSH: a completed login). Throws Error(timeout) naming
  // the last failure when `deadline` passes, Error(cancelled) when `cancel`
  // fires, and at once the errors that waiting cannot heal (a host key that
  // does not match the pinned one, an unusable key).
  virtual void wait_ready(std::chrono::steady_clock::time_point deadline,
                          const CancelToken& cancel);

  // Listens on 127.0.0.1:local_port (0: a free port) and carries each
  // connection to remote_host:remote_port as the node sees it. The default
  // throws Error(unsupported): only runners that reach the node through a
  // channel of their own (SSH) can carry ports.
  virtual std::unique_ptr<PortForward> forward(int local_port, int remote_port,
                                               const std::string& remote_host = "127.0.0.1");
};

}  // namespace raycluster
