#include "providers/factory.hpp"

#include "providers/local/localhost_provider.hpp"
#include "providers/onprem/onprem_provider.hpp"
#include "raycluster/error.hpp"

namespace raycluster::detail {

std::unique_ptr<Provider> make_provider(const ClusterSpec& spec, const ClusterIdentity& identity) {
  require_supported(spec);
  if (spec.provider.kind == ProviderKind::onprem)
    return std::make_unique<OnpremProvider>(spec, identity);
  return std::make_unique<LocalhostProvider>(spec, identity);
}

void require_supported(const ClusterSpec& spec) {
  if (spec.provider.kind == ProviderKind::localhost || spec.provider.kind == ProviderKind::onprem)
    return;
  auto where = spec.origin("provider.type");
  std::string at = where.file.empty() ? std::string()
                                      : where.file + ":" + std::to_string(where.line) + ": ";
  throw Error(ErrorCode::unsupported,
              at + "the " + std::string(provider_kind_name(spec.provider.kind)) +
                  " provider cannot launch nodes in this version of raycluster; "
                  "`validate` accepts the config, and `up` works with provider types local "
                  "and localhost");
}

}  // namespace raycluster::detail
