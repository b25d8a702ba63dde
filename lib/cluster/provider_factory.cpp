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
  for (const auto& t : spec.node_types) {
    if (!is_gcp_tpu_node_config(t.node_config)) continue;
    auto at = spec.origin("available_node_types." + t.name + ".node_config");
    throw Error(ErrorCode::unsupported,
                (at.file.empty() ? std::string() : at.file + ":" + std::to_string(at.line) + ": ") +
                    "node type " + t.name +
                    " is a TPU node (acceleratorType/acceleratorConfig in its node_config): "
                    "TPU nodes are not supported yet; `validate` accepts the config, `up` "
                    "cannot launch it");
  }
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
