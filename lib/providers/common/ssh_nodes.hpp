// SSH access to the nodes of clusters whose nodes are machines (clouds,
// on-prem): one place maps the config's `auth` section to SshOptions, so every
// provider pins host keys in the same per-cluster known_hosts file.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "spec/spec.hpp"
#include "ssh/ssh.hpp"

namespace raycluster::detail {

// Options for reaching `host` as the config's auth.ssh_user with its key, port
// and proxy command; host keys pinned in <state_dir>/known_hosts. The agent
// ($SSH_AUTH_SOCK of `env`) is offered after the key file, as OpenSSH does.
SshOptions node_ssh_options(const ClusterSpec& spec, const ClusterIdentity& identity,
                            const std::string& host, const Environment& env);

// How a cloud names a node's two addresses, for the error when one never
// comes: {"private", "public", "in a subnet without public addresses"}.
struct AddressWords {
  const char* internal;
  const char* external;
  const char* no_external_where;
};

// The address a cloud node is reached at (its internal one when the config
// says use_internal_ips), asking `lookup` again with backoff (1 s doubling to
// 10 s) while it has none: a node just launched gets one within seconds.
// `lookup` returns the node's current address or "", and throws when the node
// is gone. Throws ErrorCode::timeout after ctx.settings.address_timeout.
std::string wait_for_address(const ProviderContext& ctx, const std::string& node_id,
                             bool internal, const AddressWords& words,
                             const std::function<std::string()>& lookup);

// The runner for a cloud node at `host`: the config's auth, "ubuntu" when it
// names no user, and `key_path` (the key bootstrap made or found).
std::unique_ptr<CommandRunner> cloud_node_runner(const ClusterSpec& spec,
                                                 const ClusterIdentity& identity,
                                                 const std::string& host,
                                                 const Environment& env,
                                                 const std::string& key_path);

std::unique_ptr<CommandRunner> make_ssh_runner(const ClusterSpec& spec,
                                               const ClusterIdentity& identity,
                                               const std::string& host, const Environment& env);

}  // namespace raycluster::detail
