// Real OpenSSH servers on loopback for the SSH layer's tests.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "ssh/ssh.hpp"

namespace rctest {

// A folder removed (recursively) on destruction.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// Runs argv; returns stdout; throws (with stderr) when it fails.
std::string run_ok(const std::vector<std::string>& argv);
// "SHA256:..." of a public key file, from ssh-keygen -l.
std::string keygen_fingerprint(const std::string& pub_path);
// The current user's name.
std::string current_user();
// A TCP port on 127.0.0.1 nobody listens on right now.
int free_port();

// A TCP port on 127.0.0.1 that takes connections (the kernel completes the
// handshake) and never answers: an SSH client waits for its banner forever.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};
// Live processes whose command line contains `needle`.
std::vector<pid_t> processes_matching(const std::string& needle);

// The user's keys for this test run (made once): an OpenSSH-format ed25519
// key, a PEM RSA key and a passphrase-protected ed25519 key ("secret").
struct UserKeys {
  static const UserKeys& get();
  std::string ed25519, rsa_pem, encrypted;
  std::string authorized_keys;  // all three public keys
 private:
  UserKeys();
  TempDir dir_;
};

class Sshd {
 public:
  // Picks a free port and makes a host key; starts the server when `start`.
  explicit Sshd(bool start = true);
  ~Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  void start();
  // Ends the server and every connection it serves.
  void stop();
  // Stops, makes a new host key, starts again on the same port.
  void restart_with_new_host_key();
  // Ends the per-connection server processes (drops live connections) and
  // leaves the listener running.
  void drop_connections();

  int port() const { return port_; }
  std::string host_key_fingerprint() const;
  // Options for the current user with the ed25519 key; known_hosts in `state_dir`.
  raycluster::SshOptions options(const std::string& state_dir) const;

 private:
  void make_host_key();
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace rctest
