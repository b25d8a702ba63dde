// One authenticated libssh connection to a node, with host-key pinning.
// Not thread-safe: one owner thread at a time.
#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <functional>
#include <string>

#include "util/event.hpp"
#include "ssh/ssh.hpp"

namespace raycluster::detail {

using SshClock = std::chrono::steady_clock;

class SshSession {
 public:
  explicit SshSession(const SshOptions& options);
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  // TCP + handshake (cancellable, bounded by connect_timeout and deadline),
  // host key check against the pinned file, then public-key auth. Throws
  // Error(unavailable | auth | cancelled | timeout).
  void connect(const CancelToken& cancel, SshClock::time_point deadline);
  bool connected() const;
  void close();

  ssh_session raw() const { return session_; }
  const SshOptions& options() const { return options_; }
  // "user@host:port"
  const std::string& name() const { return name_; }
  // libssh's last error text, prefixed with the node name.
  std::string error_text(const std::string& what) const;
  // Called before the libssh session is freed (whoever closes it), so that
  // objects living on its channels (SFTP) let go first.
  void set_before_close(std::function<void()> f) { before_close_ = std::move(f); }
  // Sends a keepalive when keepalive_interval passed since the last one.
  void maybe_keepalive();

 private:
  void verify_host_key();
  void authenticate();

  SshOptions options_;
  std::string name_;
  ssh_session session_ = nullptr;
  bool connected_ = false;
  SshClock::time_point last_keepalive_{};
  std::function<void()> before_close_;
};

// The node's name for messages: user@host:port.
std::string ssh_node_name(const SshOptions& options);
// The ProxyCommand for a jump host "user@host[:port]" (OpenSSH client, -W).
std::string jump_proxy_command(const SshOptions& options);

}  // namespace raycluster::detail
