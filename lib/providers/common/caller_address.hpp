// The addresses allowed to reach a cloud node's SSH port: the config's
// provider.ssh_allowed_cidrs, else this machine's public address as a
// checkip service sees it (RAYCLUSTER_CHECKIP_URL names another service that
// answers the same way; default https://checkip.amazonaws.com).
#pragma once

#include <string>
#include <vector>

#include "http/http.hpp"
#include "providers/common/context.hpp"
#include "spec/spec.hpp"

namespace raycluster::detail {

// ["a.b.c.d/32"] or the configured CIDRs. Throws Error(unavailable) naming the
// service and provider.ssh_allowed_cidrs when no IPv4 address comes back;
// Error(cancelled). `transport` should retry (a RetryingTransport).
std::vector<std::string> caller_ssh_cidrs(const ClusterSpec& spec, const Environment& env,
                                          HttpTransport& transport, const CancelToken& cancel);

}  // namespace raycluster::detail
