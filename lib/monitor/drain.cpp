#include "monitor/drain.hpp"

#include "http/grpc.hpp"
#include "util/error.hpp"

namespace raycluster::detail {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string encode_drain_request(const std::string& node_id_hex, int reason,
                                 std::string_view reason_message, std::int64_t deadline_ms) {
  if (node_id_hex.empty() || node_id_hex.size() % 2 != 0)
    throw Error(ErrorCode::invalid_argument, "Ray node id '" + node_id_hex + "' is not hex");
  std::string id;
  for (std::size_t i = 0; i < node_id_hex.size(); i += 2) {
    int hi = hex_value(node_id_hex[i]), lo = hex_value(node_id_hex[i + 1]);
    if (hi < 0 || lo < 0)
      throw Error(ErrorCode::invalid_argument, "Ray node id '" + node_id_hex + "' is not hex");
    id += static_cast<char>(hi * 16 + lo);
  }
  // proto3: fields at their default value are left out, as protobuf does.
  ProtoWriter w;
  w.bytes_field(1, id);
  if (reason != 0) w.varint_field(2, static_cast<std::uint64_t>(reason));
  if (!reason_message.empty()) w.bytes_field(3, reason_message);
  if (deadline_ms != 0) w.varint_field(4, static_cast<std::uint64_t>(deadline_ms));
  return w.bytes();
}

DrainReply decode_drain_reply(std::string_view message) {
  DrainReply r;
  for (const auto& f : read_proto_fields(message)) {
    if (f.number == 1 && f.wire_type == 0) r.accepted = f.varint != 0;
    if (f.number == 2 && f.wire_type == 2) r.rejection = std::string(f.bytes);
  }
  return r;
}

GcsDrainer::GcsDrainer(Cluster& cluster, bool on_head, std::shared_ptr<HttpTransport> transport)
    : cluster_(cluster), on_head_(on_head), transport_(std::move(transport)) {
  if (!transport_) transport_ = std::shared_ptr<HttpTransport>(make_curl_transport());
}

GcsDrainer::~GcsDrainer() = default;

std::string GcsDrainer::base_url() {
  if (!url_.empty()) return url_;
  if (on_head_) {
    // On the head: Ray's GCS listens on every address of the machine.
    for (const auto& n : cluster_.nodes())
      if (n.kind == NodeKind::head && n.alive()) {
        url_ = "http://127.0.0.1:" + std::to_string(cluster_.gcs_port(n));
        return url_;
      }
  }
  if (!tunnel_) tunnel_ = cluster_.gcs();
  url_ = tunnel_->url();
  return url_;
}

DrainResult GcsDrainer::drain_idle(const std::string& ray_node_id, const CancelToken& cancel) {
  DrainResult r;
  try {
    std::string req = encode_drain_request(ray_node_id, kDrainReasonIdleTermination,
                                           "idle: ended by the raycluster autoscaler", 0);
    GrpcReply g = grpc_unary(*transport_, base_url(), kDrainNodeMethod, req,
                             std::chrono::milliseconds(10000), cancel);
    if (g.status != 0) {
      r.message = "DrainNode: grpc-status " + std::to_string(g.status) +
                  (g.message.empty() ? "" : " (" + g.message + ")");
      return r;
    }
    DrainReply reply = decode_drain_reply(g.body);
    r.outcome = reply.accepted ? DrainResult::Outcome::accepted : DrainResult::Outcome::refused;
    r.message = reply.rejection;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) throw;
    r.outcome = DrainResult::Outcome::unreachable;
    r.message = e.what();
    url_.clear();  // resolve (and tunnel) again next time
    tunnel_.reset();
  }
  return r;
}

}  // namespace raycluster::detail
