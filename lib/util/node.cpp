#include "util/node.hpp"

namespace raycluster {

const char* node_kind_name(NodeKind k) noexcept {
  return k == NodeKind::head ? "head" : "worker";
}

const char* cloud_state_name(CloudState s) noexcept {
  switch (s) {
    case CloudState::pending: return "pending";
    case CloudState::running: return "running";
    case CloudState::stopping: return "stopping";
    case CloudState::stopped: return "stopped";
    case CloudState::terminating: return "terminating";
    case CloudState::terminated: return "terminated";
  }
  return "unknown";
}

std::string Node::setup_status() const {
  auto it = tags.find(tags::node_status);
  return it == tags.end() ? std::string(status::uninitialized) : it->second;
}

}  // namespace raycluster
