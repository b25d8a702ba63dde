// Checks on raw config text made before YAML parsing.
#pragma once

#include <optional>
#include <string_view>

namespace raycluster::detail {

bool valid_utf8(std::string_view s);
// The first line where nesting exceeds `limit`, if any. yaml-cpp recurses
// once per level, so a crafted file could otherwise exhaust the stack.
std::optional<int> too_deep_line(std::string_view s, int limit);

}  // namespace raycluster::detail
