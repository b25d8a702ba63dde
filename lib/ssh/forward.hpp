// Local port forwarding over direct-tcpip channels.
#pragma once

#include <memory>
#include <string>

#include "ssh/ssh.hpp"

namespace raycluster::detail {

// Connects its own session (so it never shares libssh state with the
// runner's thread), listens on 127.0.0.1:local_port and serves connections
// concurrently from one thread. Throws as SshSession::connect, or
// Error(io) when the local port cannot be bound.
std::unique_ptr<PortForward> start_forward(const SshOptions& options, int local_port,
                                           const std::string& remote_host, int remote_port);

}  // namespace raycluster::detail
