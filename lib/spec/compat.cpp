// Keys of Ray's schema that raycluster accepts without acting on them (each
// reported as a warning saying what does not happen), and what Ray takes
// from its per-provider defaults files when a config leaves it out.
#include <algorithm>

#include "spec/defaults.hpp"
#include "spec/parser.hpp"

namespace raycluster::detail {
namespace {

bool in(const Strings& list, const std::string& key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

// Why a provider key of Ray's that no provider here uses has no effect.
std::string ray_only_reason(const std::string& key) {
  if (key == "cloudwatch")
    return "raycluster installs no CloudWatch agent and makes no dashboards or alarms";
  if (key == "aws_credentials")
    return "credentials come from the AWS credential chain (environment, AWS_PROFILE, "
           "~/.aws, container or instance role), never from the config";
  if (key == "module") return "raycluster has no external node providers";
  if (key == "tags")
    return "it is the Azure provider's; tag instances with node_config (TagSpecifications "
           "on AWS, labels on GCP)";
  if (key == "namespace" || key.rfind("autoscaler_", 0) == 0)
    return "it is the Kubernetes provider's";
  return "it is the Azure provider's";
}

const char* provider_of(const std::string& key) {
  if (in(kProviderAws, key)) return "aws";
  if (in(kProviderGcp, key)) return "gcp";
  if (in(kProviderOnprem, key)) return "local";
  return nullptr;
}

}  // namespace

void Parser::warn_no_effect(const std::string& path, const YAML::Node& at, const std::string& why,
                            const std::string& hint) {
  std::string key = path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
  r_.warn(r_.where(path, at), path, "'" + key + "' has no effect here: " + why, hint);
}

void Parser::warn_provider_keys(const YAML::Node& n) {
  const ProviderKind kind = s_.provider.kind;
  const char* own = kind == ProviderKind::aws   ? "aws"
                    : kind == ProviderKind::gcp ? "gcp"
                    : kind == ProviderKind::onprem ? "local"
                                                   : "localhost";
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string key = it->first.Scalar();
    const std::string path = "provider." + key;
    if (in(kProviderRayOnly, key)) {
      warn_no_effect(path, it->second, ray_only_reason(key));
    } else if (const char* of = provider_of(key); of && std::string(of) != own) {
      warn_no_effect(path, it->second,
                     "it is the " + std::string(of) + " provider's and this provider is " +
                         s_.provider.type);
    } else if (key == "security_group" && kind == ProviderKind::aws) {
      warn_no_effect(path, it->second,
                     "the security group raycluster makes is raycluster-<cluster_name>, open "
                     "to itself and to SSH from your address only; GroupName and IpPermissions "
                     "are not used",
                     "name existing groups with provider.security_group_ids or node_config "
                     "SecurityGroupIds");
    }
  }
}

void Parser::warn_ray_only_keys() {
  auto is_true = [&](const char* key) {
    YAML::Node n = top(key);
    return present(n) && n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "True" ||
                                          n.Scalar() == "TRUE" || n.Scalar() == "yes");
  };
  if (YAML::Node n = top("metadata"); n.IsDefined())
    warn_no_effect("metadata", n, "Ray carries it along for other tools; raycluster does not read it");
  if (YAML::Node n = top("min_workers"); n.IsDefined() && s_.dialect == Dialect::ray)
    warn_no_effect("min_workers", n,
                   "Ray drops a top-level min_workers when the config has available_node_types",
                   "set min_workers on each node type");
  if (is_true("no_restart"))
    warn_no_effect("no_restart", top("no_restart"),
                   "a node set up again always runs its start commands afterwards");
}

void Parser::take_default_head_type() {
  // Ray merges its provider's defaults file under the config, so a missing
  // head_node_type is the defaults' one (when a type of that name exists).
  const char* name = s_.provider.kind == ProviderKind::gcp ? kGcpDefaultHeadType : kLegacyHeadType;
  if (s_.provider.kind == ProviderKind::onprem) return;
  if (s_.find_node_type(name)) s_.head_node_type = name;
}

}  // namespace raycluster::detail
