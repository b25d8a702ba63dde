#include "cluster/provider_factory.hpp"

#include "providers/aws/aws_provider.hpp"
#include "providers/gcp/gcp_provider.hpp"
#include "providers/local/localhost_provider.hpp"
#include "providers/onprem/onprem_provider.hpp"
#include "util/error.hpp"

namespace raycluster::detail {

std::unique_ptr<Provider> make_provider(const ClusterSpec& spec, const ClusterIdentity& identity,
                                        const ProviderContext& context) {
  switch (spec.provider.kind) {
    case ProviderKind::aws:
      return std::make_unique<ec2::AwsProvider>(spec, identity, context);
    case ProviderKind::onprem:
      return std::make_unique<OnpremProvider>(spec, identity, context);
    case ProviderKind::gcp:
      return std::make_unique<gce::GcpProvider>(spec, identity, context);
    case ProviderKind::localhost:
      break;
  }
  return std::make_unique<LocalhostProvider>(spec, identity, context);
}

}  // namespace raycluster::detail
