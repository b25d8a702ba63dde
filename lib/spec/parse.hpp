// YAML text -> ClusterSpec (all three dialects); internal to lib/spec.
#pragma once

#include <string>
#include <string_view>

#include "spec/spec.hpp"

namespace raycluster::detail {

// Throws ConfigError with every problem found. `base_dir` resolves relative
// file_mounts paths (empty: leave them relative). `home` expands "~".
ClusterSpec parse_spec(std::string_view text, const std::string& name, const std::string& base_dir,
                       const std::string& home, const SpecOptions& options);

}  // namespace raycluster::detail
