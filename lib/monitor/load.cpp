#include "monitor/load.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace raycluster {
namespace detail {
namespace {

// Looks a key up as the dashboard writes it (camelCase) or as Ray stores it.
const Value* member(const Value* obj, std::string_view camel, std::string_view snake) {
  if (!obj || !obj->is_object()) return nullptr;
  if (const Value* v = obj->find(camel); v && !v->is_null()) return v;
  if (const Value* v = obj->find(snake); v && !v->is_null()) return v;
  return nullptr;
}

std::optional<double> number(const Value& v) {
  if (!v.is_number()) return std::nullopt;
  double d = v.as_number();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

// {"CPU": 1, ...} -> ResourceMap; nullopt when not an object of numbers >= 0.
std::optional<ResourceMap> shape_of(const Value& v, std::set<std::string>* names) {
  if (!v.is_object()) return std::nullopt;
  ResourceMap m;
  for (const auto& [k, amount] : v.as_object()) {
    auto d = number(amount);
    if (!d || *d < 0) return std::nullopt;
    m.set(k, *d);
    if (names) names->insert(k);
  }
  return m;
}

// A count from the head's report as an integer: demands stay aggregated by
// shape, so a huge count costs nothing, but it must fit before conversion.
std::int64_t report_count(double d) {
  return d >= static_cast<double>(kMaxReportCount) ? kMaxReportCount
                                                    : static_cast<std::int64_t>(d);
}

// [[shape, count], ...] (Ray's freq_of_dicts) -> demands.
std::vector<ResourceDemand> dict_counts(const Value* v, std::set<std::string>* names) {
  std::vector<ResourceDemand> out;
  if (!v || !v->is_array()) return out;
  for (const auto& entry : v->as_array()) {
    if (!entry.is_array() || entry.size() != 2) continue;
    const auto& pair = entry.as_array();
    auto shape = shape_of(pair[0], names);
    auto count = number(pair[1]);
    if (!shape || shape->empty() || !count || *count < 1) continue;
    out.push_back({*shape, report_count(*count)});
  }
  return out;
}

std::optional<PlacementStrategy> strategy_of(const Value* v) {
  if (!v || !v->is_string()) return PlacementStrategy::pack;
  const auto& s = v->as_string();
  if (s == "PACK") return PlacementStrategy::pack;
  if (s == "SPREAD") return PlacementStrategy::spread;
  if (s == "STRICT_PACK") return PlacementStrategy::strict_pack;
  if (s == "STRICT_SPREAD") return PlacementStrategy::strict_spread;
  return std::nullopt;
}

}  // namespace

std::string ray_camel_case(std::string_view snake) {
  std::string out;
  std::size_t start = 0;
  bool first = true;
  for (;;) {
    std::size_t end = snake.find('_', start);
    std::string_view part = snake.substr(start, end == std::string_view::npos ? snake.npos : end - start);
    if (first) {
      out.append(part);
      first = false;
    } else {
      // str.title(): upper after a non-letter, lower after a letter.
      bool prev_alpha = false;
      for (char c : part) {
        bool alpha = std::isalpha(static_cast<unsigned char>(c)) != 0;
        if (alpha)
          out += static_cast<char>(prev_alpha ? std::tolower(static_cast<unsigned char>(c))
                                              : std::toupper(static_cast<unsigned char>(c)));
        else
          out += c;
        prev_alpha = alpha;
      }
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

ClusterLoad parse_cluster_status(std::string_view json, const std::vector<std::string>& known_names) {
  ClusterLoad load;
  Value doc;
  try {
    doc = Value::parse_json(json);
  } catch (const Error& e) {
    load.error = std::string("the head's /api/cluster_status is not JSON: ") + e.what();
    return load;
  }
  if (const Value* r = doc.find("result"); r && r->is_bool() && !r->as_bool()) {
    const Value* msg = doc.find("msg");
    load.error = "the head refused /api/cluster_status: " +
                 (msg && msg->is_string() ? msg->as_string() : std::string("no reason given"));
    return load;
  }
  const Value* data = member(&doc, "data", "data");
  const Value* status = member(data, "clusterStatus", "cluster_status");
  if (!status || !status->is_object()) {
    load.error =
        "the head has no autoscaler report yet (Ray's monitor writes one every few seconds)";
    return load;
  }
  const Value* lm = member(status, "loadMetricsReport", "load_metrics_report");
  if (!lm || !lm->is_object()) {
    load.error = "the head's report has no loadMetricsReport";
    return load;
  }
  load.ok = true;
  if (const Value* t = member(status, "time", "time")) {
    // Unix seconds; past ~2262 the nanoseconds of system_clock overflow, so
    // a time beyond year 2100 is no time at all.
    if (auto d = number(*t); d && *d > 0 && *d < 4102444800.0)
      load.report_time = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::duration<double>(*d)));
  }
  std::set<std::string> names(known_names.begin(), known_names.end());
  for (const char* n : {"CPU", "GPU", "TPU", "memory", "object_store_memory",
                        "node:__internal_head__"})
    names.insert(n);
  load.demands = dict_counts(member(lm, "resourceDemand", "resource_demand"), &names);
  load.resource_requests = dict_counts(member(lm, "requestDemand", "request_demand"), &names);
  (void)dict_counts(member(lm, "nodeTypes", "node_types"), &names);

  if (const Value* pgs = member(lm, "pgDemand", "pg_demand"); pgs && pgs->is_array()) {
    // Placement groups are expanded one bundle each, so their total is capped.
    std::int64_t expanded = 0;
    int index = 0;
    for (const auto& entry : pgs->as_array()) {
      if (!entry.is_array() || entry.size() != 2 || !entry.as_array()[0].is_object()) continue;
      const Value& pg = entry.as_array()[0];
      auto count = number(entry.as_array()[1]);
      auto strategy = strategy_of(pg.find("strategy"));
      if (!count || *count < 1 || !strategy) continue;
      auto bundles = dict_counts(pg.find("bundles"), &names);
      if (bundles.empty()) continue;
      std::int64_t per_group = 0;
      for (const auto& b : bundles) per_group = std::min(per_group + b.count, kMaxReportCount);
      const std::int64_t groups = report_count(*count);
      if (per_group > kMaxPlacementGroupBundles ||
          groups > (kMaxPlacementGroupBundles - expanded) / per_group) {
        load = ClusterLoad{};
        load.error = "the head's report asks for more than " +
                     std::to_string(kMaxPlacementGroupBundles) +
                     " placement-group bundles (the limit); the report is ignored";
        return load;
      }
      expanded += groups * per_group;
      for (std::int64_t c = 0; c < groups; ++c) {
        PlacementGroup g;
        g.id = "pg-" + std::to_string(index) + "-" + std::to_string(c);
        g.strategy = *strategy;
        for (const auto& b : bundles)
          for (std::int64_t i = 0; i < b.count; ++i) g.bundles.push_back(b.shape);
        load.placement_groups.push_back(std::move(g));
      }
      ++index;
    }
  }

  // Per-node usage: {ray node id: {camelCased name: [used, total]}}.
  std::map<std::string, std::string> unmangle;
  for (const auto& n : names) unmangle.emplace(ray_camel_case(n), n);
  const Value* idle = member(lm, "idleTimeMap", "idle_time_map");
  if (const Value* by_node = member(lm, "usageByNode", "usage_by_node");
      by_node && by_node->is_object()) {
    for (const auto& [ray_id, usage] : by_node->as_object()) {
      if (!usage.is_object()) continue;
      RayNodeLoad node;
      node.ray_node_id = ray_id;
      for (const auto& [key, pair] : usage.as_object()) {
        if (!pair.is_array() || pair.size() != 2) continue;
        auto used = number(pair.as_array()[0]);
        auto total = number(pair.as_array()[1]);
        if (!used || !total || *total < 0) continue;
        auto it = unmangle.find(key);
        std::string name = it != unmangle.end() ? it->second : key;
        if (name.rfind("node:", 0) == 0 && name != "node:__internal_head__" &&
            name != "node:InternalHead")
          node.ip = name.substr(5);
        node.total.set(name, *total);
        node.available.set(name, std::max(0.0, *total - *used));
      }
      if (idle && idle->is_object()) {
        if (const Value* ms = idle->find(ray_id)) {
          if (auto d = number(*ms); d && *d >= 0)
            node.idle_for = std::chrono::milliseconds(static_cast<std::int64_t>(*d));
        }
      }
      load.nodes.push_back(std::move(node));
    }
  }
  return load;
}

namespace {

class RayHeadLoadSource : public LoadSource {
 public:
  RayHeadLoadSource(std::string base, HttpTransport& t) : base_(std::move(base)), transport_(t) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }
  ClusterLoad read(const CancelToken& cancel) override {
    HttpRequest req;
    req.url = base_ + "/api/cluster_status?format=0";
    req.timeout = std::chrono::milliseconds(5000);
    req.connect_timeout = std::chrono::milliseconds(2000);
    try {
      auto r = transport_.send(req, cancel);
      if (r.status != 200) {
        ClusterLoad l;
        l.error = "GET " + req.url + ": HTTP " + std::to_string(r.status);
        return l;
      }
      return parse_cluster_status(r.body);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::cancelled) throw;
      ClusterLoad l;
      l.error = e.what();
      return l;
    }
  }

 private:
  std::string base_;
  HttpTransport& transport_;
};

}  // namespace
}  // namespace detail

std::unique_ptr<LoadSource> make_ray_head_load_source(std::string base_url,
                                                      HttpTransport& transport) {
  return std::make_unique<detail::RayHeadLoadSource>(std::move(base_url), transport);
}

}  // namespace raycluster
