// Which cluster a provider serves: the name, the cluster id its nodes carry
// and the local state folder. Cluster::open makes it; every provider gets it.
#pragma once

#include <string>

namespace raycluster::detail {

struct ClusterIdentity {
  std::string name;
  std::string id;         // raycluster-id tag value
  std::string state_dir;  // this cluster's folder under the state root
  bool fresh = false;     // the id was made by this process, just now
};

}  // namespace raycluster::detail
