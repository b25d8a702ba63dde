#include "providers/common/ssh_nodes.hpp"

namespace raycluster::detail {

SshOptions node_ssh_options(const ClusterSpec& spec, const ClusterIdentity& identity,
                            const std::string& host, const Environment& env) {
  SshOptions o;
  o.host = host;
  o.port = spec.auth.ssh_port;
  o.user = spec.auth.ssh_user;
  o.private_key_path = spec.auth.ssh_private_key;
  o.known_hosts_path = identity.state_dir + "/known_hosts";
  if (auto agent = env.get("SSH_AUTH_SOCK")) o.agent_socket = *agent;
  o.proxy_command = spec.auth.ssh_proxy_command;
  // A node that is still booting is tried again every 2 s at most, so that
  // setup starts soon after its SSH comes up (Ray waits 5 s between tries).
  o.backoff_max = std::chrono::seconds(2);
  return o;
}

std::unique_ptr<CommandRunner> make_ssh_runner(const ClusterSpec& spec,
                                               const ClusterIdentity& identity,
                                               const std::string& host, const Environment& env) {
  return std::make_unique<SshRunner>(node_ssh_options(spec, identity, host, env));
}

}  // namespace raycluster::detail
