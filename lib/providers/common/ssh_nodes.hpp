// SSH access to the nodes of clusters whose nodes are machines (clouds,
// on-prem): one place maps the config's `auth` section to SshOptions, so every
// provider pins host keys in the same per-cluster known_hosts file.
#pragma once

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

std::unique_ptr<CommandRunner> make_ssh_runner(const ClusterSpec& spec,
                                               const ClusterIdentity& identity,
                                               const std::string& host, const Environment& env);

}  // namespace raycluster::detail
