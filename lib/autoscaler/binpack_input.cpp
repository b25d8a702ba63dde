#include "autoscaler/binpack_input.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <fstream>
#include <sstream>

#include "util/error.hpp"

namespace raycluster::detail {
namespace {

using Json = rapidjson::Value;

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::invalid_argument, "ray-binpack-input: " + what);
}

const Json* member(const Json& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

ResourceMap resources(const Json& v, const char* what) {
  if (!v.IsObject()) bad(std::string(what) + " must be an object of numbers");
  ResourceMap m;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    if (!it->value.IsNumber()) bad(std::string(what) + "." + it->name.GetString() + " must be a number");
    m.set(std::string_view(it->name.GetString(), it->name.GetStringLength()), it->value.GetDouble());
  }
  return m;
}

int integer(const Json& obj, const char* key, int fallback) {
  const Json* v = member(obj, key);
  if (!v) return fallback;
  if (!v->IsInt()) bad(std::string(key) + " must be an integer");
  return v->GetInt();
}

std::string string(const Json& obj, const char* key) {
  const Json* v = member(obj, key);
  if (!v || !v->IsString()) bad(std::string(key) + " must be a string");
  return {v->GetString(), v->GetStringLength()};
}

PlacementStrategy strategy(const std::string& s) {
  if (s == "PACK") return PlacementStrategy::pack;
  if (s == "SPREAD") return PlacementStrategy::spread;
  if (s == "STRICT_PACK") return PlacementStrategy::strict_pack;
  if (s == "STRICT_SPREAD") return PlacementStrategy::strict_spread;
  bad("unknown placement strategy " + s);
}

}  // namespace

PlannerInput binpack_input_from_json(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError())
    bad(std::string("JSON error at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
        rapidjson::GetParseError_En(doc.GetParseError()));
  if (!doc.IsObject()) bad("top level must be an object");
  if (const Json* s = member(doc, "schema"); !s || !s->IsString() || std::string(s->GetString()) != "ray-binpack-input/1")
    bad("schema must be \"ray-binpack-input/1\"");

  PlannerInput in;
  in.head_node_type = string(doc, "head_node_type");
  in.policy.max_workers = integer(doc, "max_workers", 0);
  if (const Json* v = member(doc, "upscaling_speed")) {
    if (!v->IsNumber()) bad("upscaling_speed must be a number");
    in.policy.upscaling_speed = v->GetDouble();
  }
  const Json* types = member(doc, "node_types");
  if (!types || !types->IsObject()) bad("node_types must be an object");
  for (auto it = types->MemberBegin(); it != types->MemberEnd(); ++it) {
    PlannerNodeType t;
    t.name.assign(it->name.GetString(), it->name.GetStringLength());
    const Json* r = member(it->value, "resources");
    if (!r) bad("node type " + t.name + " has no resources");
    t.resources = resources(*r, "resources");
    t.min_workers = integer(it->value, "min_workers", 0);
    t.max_workers = integer(it->value, "max_workers", 0);
    if (const Json* c = member(it->value, "cost_per_hour"); c && c->IsNumber()) t.cost_per_hour = c->GetDouble();
    in.node_types.push_back(std::move(t));
  }
  if (const Json* nodes = member(doc, "nodes")) {
    if (!nodes->IsArray()) bad("nodes must be an array");
    in.nodes.reserve(nodes->Size());
    for (const Json& n : nodes->GetArray()) {
      PlannerNode p;
      p.id = string(n, "id");
      p.node_type = string(n, "node_type");
      p.kind = string(n, "kind") == "head" ? NodeKind::head : NodeKind::worker;
      if (const Json* t = member(n, "total")) p.total = resources(*t, "total");
      if (const Json* a = member(n, "available")) p.available = resources(*a, "available");
      in.nodes.push_back(std::move(p));
    }
  }
  if (const Json* l = member(doc, "launching_nodes")) {
    if (!l->IsObject()) bad("launching_nodes must be an object");
    for (auto it = l->MemberBegin(); it != l->MemberEnd(); ++it) {
      if (!it->value.IsInt()) bad("launching_nodes values must be integers");
      in.launching[it->name.GetString()] = it->value.GetInt();
    }
  }
  auto bundles = [](const Json& arr, const char* what) {
    if (!arr.IsArray()) bad(std::string(what) + " must be an array");
    std::vector<ResourceMap> out;
    out.reserve(arr.Size());
    for (const Json& b : arr.GetArray()) out.push_back(resources(b, what));
    return out;
  };
  if (const Json* d = member(doc, "demands")) {
    auto list = bundles(*d, "demands");
    in.demands.reserve(list.size());
    for (auto& m : list) in.demands.push_back({std::move(m), 1});
  }
  if (const Json* r = member(doc, "ensure_min_cluster_size"))
    for (auto& m : bundles(*r, "ensure_min_cluster_size")) in.resource_requests.push_back({std::move(m), 1});
  if (const Json* pgs = member(doc, "pending_placement_groups")) {
    if (!pgs->IsArray()) bad("pending_placement_groups must be an array");
    int k = 0;
    for (const Json& g : pgs->GetArray()) {
      PlacementGroup pg;
      pg.id = "pg-" + std::to_string(k++);
      if (g.IsArray()) {
        pg.bundles = bundles(g, "bundles");
      } else {
        if (const Json* id = member(g, "id"); id && id->IsString()) pg.id = id->GetString();
        pg.strategy = strategy(string(g, "strategy"));
        const Json* b = member(g, "bundles");
        if (!b) bad("placement group without bundles");
        pg.bundles = bundles(*b, "bundles");
      }
      in.placement_groups.push_back(std::move(pg));
    }
  }
  return in;
}

PlannerInput load_binpack_input(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::io, "cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return binpack_input_from_json(ss.str());
}

}  // namespace raycluster::detail
