// raycluster: nodes and Ray's tag vocabulary.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace raycluster {

// Ray's tag names, so clusters stay interoperable with `ray up`.
namespace tags {
inline constexpr const char* cluster_name = "ray-cluster-name";
inline constexpr const char* node_kind = "ray-node-type";            // "head" | "worker"
inline constexpr const char* user_node_type = "ray-user-node-type";  // config's type name
inline constexpr const char* node_status = "ray-node-status";
inline constexpr const char* launch_config = "ray-launch-config";    // launch hash
inline constexpr const char* runtime_config = "ray-runtime-config";  // runtime hash
inline constexpr const char* file_mounts_contents = "ray-file-mounts-contents";
inline constexpr const char* node_name = "ray-node-name";
// raycluster's own: separates two clusters of one name.
inline constexpr const char* cluster_id = "raycluster-id";
}  // namespace tags

// Ray's node setup statuses (values of tags::node_status).
namespace status {
inline constexpr const char* uninitialized = "uninitialized";
inline constexpr const char* waiting_for_ssh = "waiting-for-ssh";
inline constexpr const char* syncing_files = "syncing-files";
inline constexpr const char* setting_up = "setting-up";
inline constexpr const char* up_to_date = "up-to-date";
inline constexpr const char* update_failed = "update-failed";
}  // namespace status

enum class NodeKind { head, worker };
const char* node_kind_name(NodeKind k) noexcept;  // "head" | "worker"

// The cloud's view of an instance.
enum class CloudState { pending, running, stopping, stopped, terminating, terminated };
const char* cloud_state_name(CloudState s) noexcept;

struct Node {
  std::string id;
  NodeKind kind = NodeKind::worker;
  std::string node_type;  // user node type
  CloudState state = CloudState::pending;
  std::string internal_ip;
  std::string external_ip;
  std::map<std::string, std::string> tags;
  std::chrono::system_clock::time_point launch_time{};

  // The setup status tag, or "uninitialized".
  std::string setup_status() const;
  bool alive() const noexcept {
    return state == CloudState::pending || state == CloudState::running;
  }
};

}  // namespace raycluster
