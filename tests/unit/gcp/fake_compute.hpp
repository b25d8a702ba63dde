// An in-memory Compute Engine v1 for unit tests: instances (list with label
// filters and paging, get, insert, bulkInsert, setLabels with fingerprints,
// start/stop/delete), zone and global operations with wait, firewall rules,
// requestId deduplication, and scripted faults.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "http/http.hpp"
#include "util/value.hpp"

namespace rctest {

struct ComputeCall {
  std::string method;
  std::string path;   // after /projects/<project>/, without the query
  std::map<std::string, std::string> query;  // decoded
  raycluster::Value body;
  std::string authorization;
};

inline std::string pct_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

struct FakeCompute : raycluster::HttpTransport {
  std::mutex mu;
  std::vector<ComputeCall> calls;
  std::map<std::string, raycluster::Value> instances;  // name -> Instance
  std::map<std::string, raycluster::Value> firewalls;
  // zone -> machine type name -> machineTypes.get answer (unknown: 404)
  std::map<std::string, std::map<std::string, raycluster::Value>> machine_types;
  std::map<std::string, std::string> request_ops;      // requestId -> operation name
  std::map<std::string, int> created_by_request;       // requestId -> creations
  std::set<std::string> stockout_zones;                // bulkInsert/insert ops fail there
  std::string quota_zone;                              // 403 quotaExceeded there
  std::string op_error_code;                           // every launch op fails with it
  std::set<std::string> refused_tokens;                // "Bearer X" answered 401
  std::size_t page_size = 500;
  std::string checkip = "203.0.113.9";  // what the checkip service answers
  int next_op = 0, next_ip = 10, fingerprint = 0;
  // Scripted faults: tried in order for every call; the first that answers wins
  // (and is removed when `once`).
  struct Fault {
    std::function<bool(const ComputeCall&)> matches;
    raycluster::HttpResponse response;
    bool once = true;
  };
  std::vector<Fault> faults;

  std::vector<ComputeCall> of(const std::string& method, const std::string& suffix) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<ComputeCall> out;
    for (const auto& c : calls)
      if (c.method == method && c.path.size() >= suffix.size() &&
          c.path.compare(c.path.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(c);
    return out;
  }

  static raycluster::HttpResponse json(int status, const raycluster::Value& v) {
    raycluster::HttpResponse r;
    r.status = status;
    r.body = v.to_json();
    return r;
  }
  static raycluster::HttpResponse error(int status, const std::string& reason,
                                        const std::string& message = "failed") {
    return json(status, raycluster::Value::parse_json(
                            "{\"error\":{\"code\":" + std::to_string(status) + ",\"message\":\"" +
                            message + "\",\"errors\":[{\"reason\":\"" + reason +
                            "\",\"message\":\"" + message + "\"}]}}"));
  }

  raycluster::Value op(const std::string& zone, const std::string& type, const std::string& target,
                       const std::string& error_code = {}) {
    raycluster::Value o = raycluster::Value::object();
    o.set("kind", "compute#operation");
    o.set("name", "operation-" + std::to_string(++next_op));
    if (!zone.empty()) o.set("zone", "https://x/compute/v1/projects/p/zones/" + zone);
    o.set("operationType", type);
    o.set("targetLink", target);
    o.set("status", "RUNNING");
    o.set("progress", 0);
    if (!error_code.empty()) {
      o.set("error", raycluster::Value::parse_json("{\"errors\":[{\"code\":\"" + error_code +
                                                   "\",\"message\":\"" + error_code +
                                                   " in " + zone + "\"}]}"));
    }
    ops[o.find("name")->as_string()] = o;
    return o;
  }
  std::map<std::string, raycluster::Value> ops;

  raycluster::Value make_instance(const std::string& name, const std::string& zone,
                                  const raycluster::Value& props) {
    raycluster::Value in = props;
    in.set("name", name);
    in.set("zone", "https://x/compute/v1/projects/p/zones/" + zone);
    in.set("status", "RUNNING");
    in.set("creationTimestamp", "2026-12-03T10:00:" + std::to_string(10 + next_ip % 50) + ".000-08:00");
    in.set("labelFingerprint", "fp" + std::to_string(++fingerprint));
    raycluster::Value nic = raycluster::Value::object();
    nic.set("networkIP", "10.0.0." + std::to_string(next_ip));
    raycluster::Value ac = raycluster::Value::object();
    ac.set("natIP", "127.79.0." + std::to_string(next_ip++));
    raycluster::Value acs = raycluster::Value::array();
    acs.push(ac);
    nic.set("accessConfigs", acs);
    raycluster::Value nics = raycluster::Value::array();
    nics.push(nic);
    in.set("networkInterfaces", nics);
    return in;
  }

  static bool matches_filter(const raycluster::Value& in, const std::string& filter) {
    static const std::regex term(R"re(\(labels\.([a-z0-9_-]+) = "([^"]*)"\))re");
    for (std::sregex_iterator it(filter.begin(), filter.end(), term), end; it != end; ++it) {
      const raycluster::Value* l = in.find("labels");
      const raycluster::Value* v = l ? l->find((*it)[1].str()) : nullptr;
      if (!v || v->as_string() != (*it)[2].str()) return false;
    }
    return true;
  }

  raycluster::HttpResponse send(const raycluster::HttpRequest& request,
                                const raycluster::CancelToken& = {}) override {
    std::lock_guard<std::mutex> lock(mu);
    if (request.url.find("checkip") != std::string::npos) {
      raycluster::HttpResponse r;
      r.status = 200;
      r.body = checkip + "\n";
      return r;
    }
    ComputeCall c;
    c.method = request.method;
    std::string url = request.url;
    auto q = url.find('?');
    std::string query = q == std::string::npos ? "" : url.substr(q + 1);
    url = url.substr(0, q);
    auto p = url.find("/projects/");
    auto slash = p == std::string::npos ? std::string::npos : url.find('/', p + 10);
    c.path = slash == std::string::npos ? url : url.substr(slash + 1);
    for (std::size_t i = 0; i < query.size();) {
      auto amp = query.find('&', i);
      std::string kv = query.substr(i, amp == std::string::npos ? std::string::npos : amp - i);
      auto eq = kv.find('=');
      c.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : pct_decode(kv.substr(eq + 1));
      if (amp == std::string::npos) break;
      i = amp + 1;
    }
    if (!request.body.empty()) c.body = raycluster::Value::parse_json(request.body);
    for (const auto& [k, v] : request.headers)
      if (k == "Authorization") c.authorization = v;
    calls.push_back(c);
    if (refused_tokens.count(c.authorization)) return error(401, "authError", "Invalid Credentials");
    for (auto it = faults.begin(); it != faults.end(); ++it)
      if (it->matches(c)) {
        auto r = it->response;
        if (it->once) faults.erase(it);
        return r;
      }
    return route(c);
  }

  raycluster::HttpResponse route(const ComputeCall& c);
};

inline raycluster::HttpResponse FakeCompute::route(const ComputeCall& c) {
  using raycluster::Value;
  std::smatch m;
  static const std::regex list_re(R"(zones/([^/]+)/instances)");
  static const std::regex one_re(R"(zones/([^/]+)/instances/([^/]+))");
  static const std::regex act_re(R"(zones/([^/]+)/instances/([^/]+)/(setLabels|start|stop))");
  static const std::regex bulk_re(R"(zones/([^/]+)/instances/bulkInsert)");
  static const std::regex wait_re(R"((zones/[^/]+|global)/operations/([^/]+)/wait)");
  static const std::regex fw_re(R"(global/firewalls(/([^/]+))?)");
  auto done = [&](Value o) {
    o.set("status", "DONE");
    o.set("progress", 100);
    ops[o.find("name")->as_string()] = o;
    return o;
  };
  static const std::regex mt_re(R"(zones/([^/]+)/machineTypes/([^/]+))");
  if (c.method == "GET" && std::regex_match(c.path, m, mt_re)) {
    auto z = machine_types.find(m[1].str());
    if (z == machine_types.end() || !z->second.count(pct_decode(m[2].str()))) return error(404, "notFound");
    return json(200, z->second.at(pct_decode(m[2].str())));
  }
  if (std::regex_match(c.path, m, wait_re)) {
    auto it = ops.find(m[2].str());
    if (it == ops.end()) return error(404, "notFound");
    return json(200, done(it->second));
  }
  if (c.method == "POST" && (std::regex_match(c.path, m, bulk_re) ||
                             (std::regex_match(c.path, m, list_re)))) {
    const std::string zone = m[1].str();
    const bool bulk = c.path.find("bulkInsert") != std::string::npos;
    const std::string rid = c.query.count("requestId") ? c.query.at("requestId") : "";
    if (!rid.empty() && request_ops.count(rid)) return json(200, ops[request_ops[rid]]);
    if (zone == quota_zone)
      return error(403, "quotaExceeded", "Quota 'CPUS' exceeded.  Limit: 8.0 in region r.");
    std::string err = stockout_zones.count(zone) ? "ZONE_RESOURCE_POOL_EXHAUSTED" : op_error_code;
    Value o = op(zone, bulk ? "bulkInsert" : "insert", "instances", err);
    if (!rid.empty()) request_ops[rid] = o.find("name")->as_string();
    if (err.empty()) {
      if (!rid.empty()) ++created_by_request[rid];
      if (bulk) {
        int n = std::stoi(c.body.find("count")->as_string());
        std::string pattern = c.body.find("namePattern")->as_string();
        for (int i = 1; i <= n; ++i) {
          std::string num = std::to_string(i);
          std::string name = pattern.substr(0, pattern.find('#')) + std::string(4 - num.size(), '0') + num;
          instances[name] = make_instance(name, zone, *c.body.find("instanceProperties"));
        }
      } else {
        std::string name = c.body.find("name")->as_string();
        instances[name] = make_instance(name, zone, c.body);
      }
    }
    return json(200, o);
  }
  if (std::regex_match(c.path, m, act_re)) {
    auto it = instances.find(m[2].str());
    if (it == instances.end()) return error(404, "notFound");
    if (m[3] == "setLabels") {
      if (c.body.find("labelFingerprint")->as_string() != it->second.find("labelFingerprint")->as_string())
        return error(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed");
      it->second.set("labels", *c.body.find("labels"));
      it->second.set("labelFingerprint", "fp" + std::to_string(++fingerprint));
    } else {
      it->second.set("status", m[3] == "start" ? "RUNNING" : "TERMINATED");
    }
    return json(200, op(m[1].str(), m[3].str(), it->first));
  }
  if (std::regex_match(c.path, m, one_re)) {
    auto it = instances.find(m[2].str());
    if (it == instances.end()) return error(404, "notFound");
    if (c.method == "DELETE") {
      Value o = op(m[1].str(), "delete", it->first);
      instances.erase(it);
      return json(200, o);
    }
    return json(200, it->second);
  }
  if (c.method == "GET" && std::regex_match(c.path, m, list_re)) {
    std::vector<Value> hits;
    for (const auto& [name, in] : instances)
      if (in.find("zone")->as_string().find("/zones/" + m[1].str()) != std::string::npos &&
          matches_filter(in, c.query.count("filter") ? c.query.at("filter") : ""))
        hits.push_back(in);
    std::size_t start = c.query.count("pageToken") ? std::stoul(c.query.at("pageToken")) : 0;
    Value page = Value::object();
    Value items = Value::array();
    for (std::size_t i = start; i < hits.size() && i < start + page_size; ++i) items.push(hits[i]);
    if (items.size() > 0) page.set("items", items);
    if (start + page_size < hits.size()) page.set("nextPageToken", std::to_string(start + page_size));
    return json(200, page);
  }
  if (std::regex_match(c.path, m, fw_re)) {
    const std::string name = m[2].str();
    if (c.method == "GET" && name.empty()) {
      Value page = Value::object();
      Value items = Value::array();
      for (const auto& [n, fw] : firewalls) items.push(fw);
      page.set("items", items);
      return json(200, page);
    }
    if (c.method == "POST") {
      std::string n = c.body.find("name")->as_string();
      if (firewalls.count(n)) return error(409, "alreadyExists");
      firewalls[n] = c.body;
      return json(200, op("", "insert", n));
    }
    auto it = firewalls.find(name);
    if (it == firewalls.end()) return error(404, "notFound");
    if (c.method == "GET") return json(200, it->second);
    if (c.method == "DELETE") {
      firewalls.erase(it);
      return json(200, op("", "delete", name));
    }
    if (c.method == "PATCH") {
      for (const auto& [k, v] : c.body.as_object()) it->second.set(k, v);
      return json(200, op("", "patch", name));
    }
  }
  return error(400, "invalid", "unknown call " + c.method + " " + c.path);
}

}  // namespace rctest
