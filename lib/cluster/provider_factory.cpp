#include "cluster/provider_factory.hpp"

#include "providers/aws/aws_provider.hpp"
#include "providers/gcp/gcp_provider.hpp"
#include "providers/local/localhost_provider.hpp"
#include "providers/onprem/onprem_provider.hpp"
#include "util/error.hpp"

namespace raycluster::detail {

void refuse_tpu_node_types(const ClusterSpec& spec) {
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
}


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
