// Picks the Provider implementation a spec names: the one place that knows
// every provider.
#pragma once

#include <memory>

#include "providers/common/context.hpp"
#include "providers/common/identity.hpp"
#include "providers/common/provider.hpp"
#include "spec/spec.hpp"

namespace raycluster::detail {

// TPU node types validate (Ray accepts them) but cannot be launched yet:
// throws ErrorCode::unsupported naming the first one, file and line. `up`
// asks before it bootstraps anything; status and down work on such configs.
void refuse_tpu_node_types(const ClusterSpec& spec);

// The provider of spec.provider.kind, built on `context`.
std::unique_ptr<Provider> make_provider(const ClusterSpec& spec, const ClusterIdentity& identity,
                                        const ProviderContext& context);

}  // namespace raycluster::detail
