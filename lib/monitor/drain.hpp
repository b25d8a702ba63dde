// Internal: DrainNode requests to Ray's GCS (ray.rpc.autoscaler.
// AutoscalerStateService, Ray 2.x's autoscaler.proto) over gRPC, with the
// messages encoded by hand: DrainNodeRequest {1: node_id bytes, 2: reason
// enum, 3: reason_message string, 4: deadline_timestamp_ms int64},
// DrainNodeReply {1: is_accepted bool, 2: rejection_reason_message string}.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "monitor/autoscaler_loop.hpp"

namespace raycluster::detail {

inline constexpr int kDrainReasonIdleTermination = 1;  // DRAIN_NODE_REASON_IDLE_TERMINATION
inline constexpr const char* kDrainNodeMethod = "/ray.rpc.autoscaler.AutoscalerStateService/DrainNode";

// Throws Error(invalid_argument) when node_id_hex is not an even-length hex string.
std::string encode_drain_request(const std::string& node_id_hex, int reason,
                                 std::string_view reason_message, std::int64_t deadline_ms);

struct DrainReply {
  bool accepted = false;
  std::string rejection;
};
// Throws Error(invalid_argument) on a malformed message.
DrainReply decode_drain_reply(std::string_view message);

// The drainer that talks to the cluster's head: the GCS address is resolved
// (and a tunnel opened where one is needed) at the first request and again
// after one fails to connect. Not thread-safe: the tick's thread only.
class GcsDrainer : public NodeDrainer {
 public:
  GcsDrainer(Cluster& cluster, bool on_head, std::shared_ptr<HttpTransport> transport);
  ~GcsDrainer() override;
  DrainResult drain_idle(const std::string& ray_node_id, const CancelToken& cancel) override;

 private:
  std::string base_url();
  Cluster& cluster_;
  bool on_head_;
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<Tunnel> tunnel_;
  std::string url_;
};

}  // namespace raycluster::detail
