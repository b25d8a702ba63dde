// Internal: the reconcile loop's reader of Ray's load report on the head.
#pragma once

#include <memory>
#include <string>

#include "monitor/autoscaler_loop.hpp"
#include "monitor/event_emitter.hpp"

namespace raycluster::detail {

// Reads the load from options.load_source when set, else from the head's
// dashboard: options.dashboard_url, the provider's dashboard_url(head), or
// an SSH tunnel to the head opened here and kept across reads while the
// head stays the same and answers (a "tunnel" event says when one opens).
// The load source is made again when the URL changes. Not thread-safe: the
// tick's thread only.
class HeadLoadReader {
 public:
  HeadLoadReader(const AutoscalerOptions& options, EventEmitter& events)
      : options_(options), events_(events), transport_(options.transport) {}

  ClusterLoad read(Cluster& cluster, const Node& head, const CancelToken& cancel);
  // The dashboard URL the last read from the head used (empty when
  // options.load_source replaces the head, or before a read), and its transport.
  const std::string& url() const { return head_source_url_; }
  const std::shared_ptr<HttpTransport>& transport() const { return transport_; }

 private:
  const AutoscalerOptions& options_;
  EventEmitter& events_;
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<LoadSource> head_source_;
  std::string head_source_url_;
  std::unique_ptr<Tunnel> dashboard_tunnel_;
  std::string tunnel_head_id_;
};

}  // namespace raycluster::detail
