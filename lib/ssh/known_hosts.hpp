// Pinned host keys: reading our known_hosts file for messages, fingerprints.
// (Matching and formatting of entries is libssh's; see session.cpp.)
#pragma once

#include <libssh/libssh.h>

#include <string>
#include <vector>

namespace raycluster::detail {

struct PinnedKey {
  std::string key_type;     // "ssh-ed25519", ...
  std::string fingerprint;  // "SHA256:..."
};

// The file's content; empty when it does not exist.
std::string read_known_hosts(const std::string& path);
// The host field OpenSSH and libssh write: "host" for port 22, else "[host]:port".
std::string known_hosts_name(const std::string& host, int port);
// Keys pinned for host:port in known_hosts content (plain host fields only;
// "name1,name2" lists are understood, hashed |1| fields are skipped).
std::vector<PinnedKey> pinned_keys(const std::string& content, const std::string& host, int port);
// "SHA256:..." of a libssh key; empty on failure.
std::string key_fingerprint(ssh_key key);

}  // namespace raycluster::detail
