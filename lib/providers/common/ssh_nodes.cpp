#include "providers/common/ssh_nodes.hpp"

#include <algorithm>

#include "util/error.hpp"

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

std::string wait_for_address(const ProviderContext& ctx, const std::string& node_id,
                             bool internal, const AddressWords& words,
                             const std::function<std::string()>& lookup) {
  using std::chrono::milliseconds;
  const auto deadline = ctx.now() + ctx.settings.address_timeout;
  milliseconds delay(1000);
  for (;;) {
    std::string host = lookup();
    if (!host.empty()) return host;
    if (ctx.now() >= deadline)
      throw Error(ErrorCode::timeout,
                  "instance " + node_id + " has no " + (internal ? words.internal : words.external) +
                      " IP address" +
                      (internal ? std::string()
                                : std::string("; ") + words.no_external_where +
                                      " set provider.use_internal_ips: true"));
    ctx.sleep(delay, {});
    delay = std::min(delay * 2, milliseconds(10000));
  }
}

std::unique_ptr<CommandRunner> cloud_node_runner(const ClusterSpec& spec,
                                                 const ClusterIdentity& identity,
                                                 const std::string& host,
                                                 const Environment& env,
                                                 const std::string& key_path) {
  SshOptions o = node_ssh_options(spec, identity, host, env);
  if (o.user.empty()) o.user = "ubuntu";
  o.private_key_path = key_path;
  return std::make_unique<SshRunner>(std::move(o));
}

}  // namespace raycluster::detail
