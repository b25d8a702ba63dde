// The order in which every provider's list() returns nodes: by launch time,
// then id, so that "the newest" and "the first" mean the same everywhere.
#pragma once

#include <algorithm>
#include <vector>

#include "util/node.hpp"

namespace raycluster::detail {

inline void sort_by_launch(std::vector<Node>& nodes) {
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) {
    if (a.launch_time != b.launch_time) return a.launch_time < b.launch_time;
    return a.id < b.id;
  });
}

}  // namespace raycluster::detail
