// Picks the Provider implementation a spec names.
#pragma once

#include <memory>
#include <string>

#include "providers/common/provider.hpp"
#include "spec/spec.hpp"

namespace raycluster::detail {

struct ClusterIdentity {
  std::string name;
  std::string id;         // raycluster-id tag value
  std::string state_dir;  // this cluster's folder under the state root
  bool fresh = false;     // the id was made by this process, just now
};

// Throws Error(unsupported) for providers this build cannot drive yet.
void require_supported(const ClusterSpec& spec);
std::unique_ptr<Provider> make_provider(const ClusterSpec& spec, const ClusterIdentity& identity);

}  // namespace raycluster::detail
