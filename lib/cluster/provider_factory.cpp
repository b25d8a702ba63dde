#include "cluster/provider_factory.hpp"

#include "providers/aws/aws_provider.hpp"
#include "providers/local/localhost_provider.hpp"
#include "providers/onprem/onprem_provider.hpp"
#include "util/error.hpp"

namespace raycluster::detail {

std::unique_ptr<Provider> make_provider(const ClusterSpec& spec, const ClusterIdentity& identity,
                                        const ProviderContext& context) {
  require_supported(spec);
  switch (spec.provider.kind) {
    case ProviderKind::aws:
      return std::make_unique<ec2::AwsProvider>(spec, identity, context);
    case ProviderKind::onprem:
      return std::make_unique<OnpremProvider>(spec, identity, context);
    case ProviderKind::localhost:
    case ProviderKind::gcp:
      break;
  }
  return std::make_unique<LocalhostProvider>(spec, identity, context);
}

void require_supported(const ClusterSpec& spec) {
  if (spec.provider.kind != ProviderKind::gcp) return;
  auto where = spec.origin("provider.type");
  std::string at = where.file.empty() ? std::string()
                                      : where.file + ":" + std::to_string(where.line) + ": ";
  throw Error(ErrorCode::unsupported,
              at + "the " + std::string(provider_kind_name(spec.provider.kind)) +
                  " provider cannot launch nodes in this version of raycluster; "
                  "`validate` accepts the config, and `up` works with provider types aws, "
                  "local and localhost");
}

}  // namespace raycluster::detail
