// The tag filter of Provider::list(): which nodes of a listing a filter
// selects, in the order every provider returns them (node_order.hpp).
#pragma once

#include <vector>

#include "providers/common/provider.hpp"
#include "util/node.hpp"

namespace raycluster::detail {

// Nodes without the raycluster-id tag: clouds where `ray up` may have
// launched the cluster's nodes count them in (`ray up` sets no such tag, and
// the cloud listing already asked for the cluster's name); providers whose
// node records only this state folder writes do not.
enum class UntaggedClusterId { excluded, included };

// True when every tag of `filter` is on `tags` with the same value.
bool tags_match(const Tags& tags, const Tags& filter,
                UntaggedClusterId untagged = UntaggedClusterId::excluded);

// The nodes whose tags match `filter`, sorted by launch time, then id.
std::vector<Node> select_nodes(std::vector<Node> nodes, const Tags& filter,
                               UntaggedClusterId untagged = UntaggedClusterId::excluded);

}  // namespace raycluster::detail
