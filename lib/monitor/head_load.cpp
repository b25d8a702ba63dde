#include "monitor/head_load.hpp"

#include "util/error.hpp"

namespace raycluster::detail {

ClusterLoad HeadLoadReader::read(Cluster& cluster, const Node& head, const CancelToken& cancel) {
  if (options_.load_source) return options_.load_source->read(cancel);
  std::string url = options_.dashboard_url;
  if (url.empty()) url = cluster.dashboard_url(head);
  if (url.empty() && options_.on_head)
    url = "http://127.0.0.1:" + std::to_string(cluster.spec().dashboard_port);
  if (url.empty()) {
    // A cloud head keeps its dashboard port closed: go through SSH.
    if (!dashboard_tunnel_ || tunnel_head_id_ != head.id) {
      dashboard_tunnel_.reset();
      try {
        dashboard_tunnel_ = cluster.dashboard();
        tunnel_head_id_ = head.id;
        AutoscalerEvent e;
        e.type = "tunnel";
        e.node_ids = {head.id};
        e.detail = dashboard_tunnel_->url() + " -> head " + head.id + " 127.0.0.1:" +
                   std::to_string(cluster.spec().dashboard_port) + " over SSH";
        events_.emit(std::move(e));
      } catch (const Error& e) {
        ClusterLoad l;
        l.error = std::string("no tunnel to the head's dashboard: ") + e.what();
        return l;
      }
    }
    url = dashboard_tunnel_->url();
  }
  if (!head_source_ || url != head_source_url_) {
    if (!transport_) transport_ = std::shared_ptr<HttpTransport>(make_curl_transport());
    head_source_ = make_ray_head_load_source(url, *transport_);
    head_source_url_ = url;
  }
  ClusterLoad load = head_source_->read(cancel);
  // A tunnel whose SSH connection died carries nothing: open a new one next tick.
  if (!load.error.empty()) dashboard_tunnel_.reset();
  return load;
}

}  // namespace raycluster::detail
