// What create() does the same on every cloud: count the nodes an earlier
// call with the same idempotency token made toward the batch, and restart
// stopped nodes before launching new ones (cache_stopped_nodes).
#pragma once

#include <string>
#include <vector>

#include "providers/common/provider.hpp"
#include "util/node.hpp"

namespace raycluster::detail {

// The nodes one create() returns, never more than its request's count.
class LaunchBatch {
 public:
  explicit LaunchBatch(const LaunchRequest& request);

  // True when a node launched under `node_token` belongs to this request:
  // the request carries a token and it is the same. (Clouds whose token is
  // derived from the request's, as EC2's ClientToken, compare their own.)
  bool made_by_request(const std::string& node_token) const;
  // Adds a node (an earlier call's, a restarted one, a new one) unless the
  // batch is full; returns whether it was added.
  bool add(Node node);
  // Nodes still to launch; 0 once the batch is full.
  int remaining() const;
  std::vector<Node> take() { return std::move(nodes_); }

 private:
  std::string token_;
  int count_;
  std::vector<Node> nodes_;
};

// Applies tag changes: a non-empty value sets the tag, an empty one removes it.
void apply_tags(Tags& tags, const Tags& changes);

// cache_stopped_nodes, as Ray does it: the stopped nodes a launch restarts
// before it launches new ones, those whose kind, user node type and launch
// config tags are the request's; at most `max`, in the order given.
std::vector<Node> reusable_stopped(const std::vector<Node>& nodes, const LaunchRequest& request,
                                   int max);

// A stopped node as create() returns it once restarted: pending, carrying
// the request's tags.
Node restarted(Node node, const LaunchRequest& request);

}  // namespace raycluster::detail
