#include <chrono>
#include <ctime>

#include "cluster/cluster.hpp"

namespace raycluster {
namespace {

std::string iso8601(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Value ClusterStatus::to_value() const {
  Value v = Value::object();
  v.set("cluster_name", cluster_name);
  v.set("cluster_id", cluster_id);
  v.set("provider", provider);
  v.set("head_ip", head_ip);
  v.set("dashboard", dashboard);
  Value list = Value::array();
  for (const auto& n : nodes) {
    Value o = Value::object();
    o.set("id", n.id);
    o.set("kind", node_kind_name(n.kind));
    o.set("node_type", n.node_type);
    o.set("state", cloud_state_name(n.state));
    o.set("status", n.setup_status());
    o.set("internal_ip", n.internal_ip);
    o.set("external_ip", n.external_ip);
    o.set("launch_time", iso8601(n.launch_time));
    Value t = Value::object();
    for (const auto& [k, s] : n.tags) t.set(k, s);
    o.set("tags", t);
    list.push(o);
  }
  v.set("nodes", list);
  Value a = Value::object();
  a.set("site", autoscaler.site);
  a.set("installed", autoscaler.installed);
  a.set("service", autoscaler.service);
  a.set("alive", autoscaler.alive);
  a.set("where", autoscaler.where);
  a.set("report", autoscaler.report);
  a.set("error", autoscaler.error);
  v.set("autoscaler", a);
  Value types = Value::object();
  for (const auto& [name, resources] : node_type_resources) {
    Value r = Value::object();
    for (const auto& [k, amount] : resources) r.set(k, amount);
    Value t = Value::object();
    t.set("resources", r);
    types.set(name, t);
  }
  v.set("node_types", types);
  return v;
}

}  // namespace raycluster
