// raycluster.hpp compiles alone, as the first include, with -Wpedantic
// -Werror; tests/c/meson.build builds it as C++17 and as C++20.
#include "raycluster/raycluster.hpp"

#include <string>

int main() {
  raycluster::UpOptions up;
  raycluster::ClusterOptions cluster;
  return raycluster::abi_version() == RC_ABI_VERSION &&
                 raycluster::version() == std::string(rc_version()) && !up.force_setup &&
                 cluster.parallelism == 0
             ? 0
             : 1;
}
