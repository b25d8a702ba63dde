// raycluster: a CommandRunner over SSH (libssh).
//
// SshRunner runs commands on one node through one SSH connection that it
// opens lazily and reuses; files move over SFTP; ports are forwarded through
// direct-tcpip channels. Host keys are pinned per cluster in a known_hosts
// file the caller names: the first contact records the node's key, a later
// mismatch refuses to connect. Nothing here reads environment variables or
// ~/.ssh/config: everything comes in through SshOptions.
//
// Errors (raycluster::Error), each message naming the node as user@host:port:
//   unavailable  the node could not be reached or the connection dropped
//   auth         the key was refused, cannot be read (passphrase) or the
//                host key does not match the pinned one (both fingerprints)
//   timeout      wait_ready's deadline passed
//   cancelled    the CancelToken fired during wait_ready / upload / download
//   io           a local or SFTP file operation failed
// Key material never appears in messages.
//
// Thread-safety: one SshRunner is used from one thread at a time (as every
// CommandRunner). A PortForward owns its own SSH connection and thread, so
// it may run while the runner is used from another thread. Distinct runners
// are independent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "util/command_runner.hpp"
#include "util/event.hpp"

namespace raycluster {

struct SshOptions {
  std::string host;  // address or name of the node
  int port = 22;
  std::string user;
  // Private key file (OpenSSH or PEM format). A passphrase-protected key is
  // only usable through the agent (agent_socket).
  std::string private_key_path;
  // Pinned host keys of the cluster (OpenSSH known_hosts format), e.g.
  // ~/.raycluster/<cluster>/known_hosts. Required. Written atomically, 0600.
  std::string known_hosts_path;
  // An ssh-agent socket to try after (or instead of) the key file; empty: none.
  // (The caller passes $SSH_AUTH_SOCK when it wants the agent.)
  std::string agent_socket;
  // Optional OpenSSH-style ProxyCommand run by /bin/sh; %h and %p expand to
  // host and port. Takes precedence over jump_host.
  std::string proxy_command;
  // Optional jump host "user@host[:port]": reached with the OpenSSH client
  // (`ssh -W`), using private_key_path and the same known_hosts file.
  std::string jump_host;
  // One connection attempt (TCP + handshake) may take this long.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Blocking protocol steps after connecting (auth, channel open, SFTP).
  std::chrono::milliseconds io_timeout{std::chrono::seconds(60)};
  // A keepalive goes out this often while a command runs or a forward is idle.
  std::chrono::milliseconds keepalive_interval{std::chrono::seconds(15)};
  // Run commands like Ray: bash --login -c -i '<env exports>; <command>'.
  // false: the login shell of the user runs the command directly.
  bool login_shell = true;
  // wait_ready: first pause between attempts (doubling up to backoff_max).
  std::chrono::milliseconds backoff_initial{std::chrono::milliseconds(250)};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(5)};
};

// Counters of file transfers since the runner was made.
struct SshTransferStats {
  std::uint64_t files_sent = 0;     // uploaded because new or changed
  std::uint64_t files_skipped = 0;  // unchanged content on the node (by sha256)
  std::uint64_t bytes_sent = 0;
  std::uint64_t files_received = 0;
  std::uint64_t bytes_received = 0;
};

struct AttachOptions {
  std::string term = "xterm-256color";
  int cols = 80;  // used when in_fd is not a terminal
  int rows = 24;
  // Run this instead of the login shell (e.g. "tmux attach || tmux"); empty: shell.
  std::string command;
};

class SshRunner : public CommandRunner {
 public:
  explicit SshRunner(SshOptions options);
  ~SshRunner() override;
  SshRunner(const SshRunner&) = delete;
  SshRunner& operator=(const SshRunner&) = delete;

  // Connects (and authenticates) until it works, pausing with backoff between
  // attempts, until `deadline` (Ray waits up to 900 s). Throws Error(timeout)
  // with the last failure when the deadline passes, Error(cancelled) as soon
  // as `cancel` fires, Error(auth) at once for a host key mismatch or an
  // unusable key file (those do not heal by waiting).
  void wait_ready(std::chrono::steady_clock::time_point deadline,
                  const CancelToken& cancel) override;
  void wait_ready(std::chrono::milliseconds within = std::chrono::seconds(900),
                  const CancelToken& cancel = {});

  // Streams output by line; options.timeout / options.cancel close the
  // channel and end the command's remote process group (SIGTERM, then
  // SIGKILL a second later). Environment goes in as `export K='v';`.
  // Connects lazily; reconnects once when the connection was dropped.
  // Throws Error(unavailable/auth) when the node cannot be reached.
  CommandResult run(const std::string& command, const CommandOptions& options) override;

  // Files and folders over SFTP: modes preserved, parent folders created,
  // a leading "~" is the remote home. Files whose content on the node has
  // the same sha256 (computed on the node with sha256sum) are not sent again.
  void upload(const std::string& local_path, const std::string& remote_path) override;
  void download(const std::string& remote_path, const std::string& local_path) override;
  std::string describe() const override;

  // Listens on 127.0.0.1:local_port (0: a free port) and carries each
  // connection to remote_host:remote_port on the node. Opens its own SSH
  // connection (same options, same pinned host key) at once; throws as run().
  std::unique_ptr<PortForward> forward(int local_port, int remote_port,
                                       const std::string& remote_host = "127.0.0.1") override;

  // An interactive shell with a PTY: bytes from in_fd go to the node, its
  // output to out_fd, until the shell exits (returns its exit status) or
  // in_fd ends and the node closes. When in_fd is a terminal it is put in
  // raw mode (restored on return) and its size is used.
  int attach(int in_fd, int out_fd, const AttachOptions& options = {});

  SshTransferStats transfer_stats() const;
  // "user@host:port".
  std::string node_name() const;
  // Drops the connection (the next call connects again).
  void disconnect();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The SHA256 fingerprint of a public key given as its base64 blob, as
// `ssh-keygen -l` prints it ("SHA256:..."); empty when the blob is invalid.
std::string ssh_fingerprint_sha256(const std::string& base64_blob);

// Refuses a private key file that others may read, as OpenSSH does (it
// ignores such a key with "bad permissions"): throws Error(auth) naming the
// file, its mode and the fix when the file belongs to this user and any
// group or other permission bit is set. `who` starts the message (a node).
void check_private_key_permissions(const std::string& path, const std::string& who);

}  // namespace raycluster
