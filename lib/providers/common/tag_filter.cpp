#include "providers/common/tag_filter.hpp"

#include <algorithm>

#include "providers/common/node_order.hpp"

namespace raycluster::detail {

bool tags_match(const Tags& tags, const Tags& filter, UntaggedClusterId untagged) {
  for (const auto& [k, v] : filter) {
    auto it = tags.find(k);
    if (it == tags.end() && k == tags::cluster_id && untagged == UntaggedClusterId::included)
      continue;
    if (it == tags.end() || it->second != v) return false;
  }
  return true;
}

std::vector<Node> select_nodes(std::vector<Node> nodes, const Tags& filter,
                               UntaggedClusterId untagged) {
  std::erase_if(nodes, [&](const Node& n) { return !tags_match(n.tags, filter, untagged); });
  sort_by_launch(nodes);
  return nodes;
}

}  // namespace raycluster::detail
