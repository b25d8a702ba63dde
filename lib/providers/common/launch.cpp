#include "providers/common/launch.hpp"

#include <algorithm>

namespace raycluster::detail {

LaunchBatch::LaunchBatch(const LaunchRequest& request)
    : token_(request.idempotency_token), count_(std::max(0, request.count)) {}

bool LaunchBatch::made_by_request(const std::string& node_token) const {
  return !token_.empty() && node_token == token_;
}

bool LaunchBatch::add(Node node) {
  if (remaining() == 0) return false;
  nodes_.push_back(std::move(node));
  return true;
}

int LaunchBatch::remaining() const {
  return std::max(0, count_ - static_cast<int>(nodes_.size()));
}

void apply_tags(Tags& tags, const Tags& changes) {
  for (const auto& [k, v] : changes) {
    if (v.empty())
      tags.erase(k);
    else
      tags[k] = v;
  }
}

std::vector<Node> reusable_stopped(const std::vector<Node>& nodes, const LaunchRequest& request,
                                   int max) {
  std::vector<Node> out;
  if (!request.node_type) return out;
  auto wanted = [&](const char* key) {
    auto it = request.tags.find(key);
    return it == request.tags.end() ? std::string() : it->second;
  };
  const std::string kind = node_kind_name(request.kind);
  const std::string hash = wanted(tags::launch_config);
  for (const auto& n : nodes) {
    if (static_cast<int>(out.size()) >= max) break;
    if (n.state != CloudState::stopped) continue;
    auto tag_is = [&](const char* k, const std::string& v) {
      auto it = n.tags.find(k);
      return it != n.tags.end() && it->second == v;
    };
    if (tag_is(tags::node_kind, kind) && tag_is(tags::user_node_type, request.node_type->name) &&
        tag_is(tags::launch_config, hash))
      out.push_back(n);
  }
  return out;
}

Node restarted(Node node, const LaunchRequest& request) {
  node.state = CloudState::pending;
  apply_tags(node.tags, request.tags);
  return node;
}

}  // namespace raycluster::detail
