// Trace files: reading (JSON lines or CSV, optional cluster header) and
// writing (JSON lines). Format: trace.hpp and bench/README.md.
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "trace.hpp"

namespace tracesim {

void Workload::add(ms_t arrival, ms_t duration, const Resources& shape) {
  int id = -1;
  for (std::size_t s = 0; s < shapes.size() && id < 0; ++s)
    if (shapes[s] == shape) id = static_cast<int>(s);
  if (id < 0) {
    id = static_cast<int>(shapes.size());
    shapes.push_back(shape);
  }
  tasks.push_back({arrival, duration, id});
}

void Workload::sort() {
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.arrival < b.arrival; });
}

ClusterSpec default_cluster() {
  ClusterSpec c;
  c.node_types = {{"cpu8", {{"CPU", 8}}, 250, 0.40}, {"gpu1", {{"CPU", 8}, {"GPU", 1}}, 20, 3.00}};
  return c;
}

namespace {

using Json = rapidjson::Value;

struct Where {
  std::string path;
  int line = 0;
  [[noreturn]] void fail(const std::string& what) const {
    throw TraceError(path + ":" + std::to_string(line) + ": " + what);
  }
};

ms_t seconds_to_ms(double s) { return static_cast<ms_t>(std::llround(s * 1000.0)); }

double number(const Where& at, const Json& obj, const char* key, bool required, double fallback) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) {
    if (required) at.fail(std::string("missing key \"") + key + "\"");
    return fallback;
  }
  if (!it->value.IsNumber()) at.fail(std::string("\"") + key + "\" must be a number");
  const double v = it->value.GetDouble();
  if (!std::isfinite(v) || v < 0) at.fail(std::string("\"") + key + "\" must be a number >= 0");
  return v;
}

Resources resources_of(const Where& at, const Json& v, const std::string& key) {
  if (!v.IsObject()) at.fail("\"" + key + "\" must be an object of resource amounts");
  Resources r;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    const std::string name(it->name.GetString(), it->name.GetStringLength());
    if (!it->value.IsNumber() || !std::isfinite(it->value.GetDouble()) || it->value.GetDouble() < 0)
      at.fail("\"" + key + "." + name + "\" must be a number >= 0");
    if (it->value.GetDouble() > 0) r[name] = it->value.GetDouble();
  }
  return r;
}

ClusterSpec header_cluster(const Where& at, const Json& h, std::string& name) {
  if (!h.IsObject()) at.fail("\"trace\" must be an object");
  if (auto it = h.FindMember("name"); it != h.MemberEnd()) {
    if (!it->value.IsString()) at.fail("\"trace.name\" must be a string");
    name = it->value.GetString();
  }
  ClusterSpec c;
  c.boot_ms = seconds_to_ms(number(at, h, "boot_s", false, 60));
  c.setup_ms = seconds_to_ms(number(at, h, "setup_s", false, 30));
  c.idle_timeout_ms = seconds_to_ms(number(at, h, "idle_timeout_s", false, 300));
  auto types = h.FindMember("node_types");
  if (types == h.MemberEnd() || !types->value.IsObject() || types->value.MemberCount() == 0)
    at.fail("\"trace.node_types\" must be a non-empty object");
  int total_max = 0;
  for (auto it = types->value.MemberBegin(); it != types->value.MemberEnd(); ++it) {
    NodeTypeSpec t;
    t.name = it->name.GetString();
    const std::string key = "trace.node_types." + t.name;
    if (!it->value.IsObject()) at.fail("\"" + key + "\" must be an object");
    auto res = it->value.FindMember("resources");
    if (res == it->value.MemberEnd()) at.fail("\"" + key + "\": missing key \"resources\"");
    t.resources = resources_of(at, res->value, key + ".resources");
    auto mw = it->value.FindMember("max_workers");
    if (mw == it->value.MemberEnd() || !mw->value.IsInt() || mw->value.GetInt() < 0)
      at.fail("\"" + key + ".max_workers\" must be an integer >= 0");
    t.max_workers = mw->value.GetInt();
    t.cost_per_hour = number(at, it->value, "cost_per_hour", false, 0);
    total_max += t.max_workers;
    c.node_types.push_back(std::move(t));
  }
  c.max_workers = total_max;
  return c;
}

// One JSON line: a header (returns true) or a task.
bool json_line(const Where& at, const std::string& text, Workload& w, ClusterSpec& cluster, bool first) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError())
    at.fail(std::string("invalid JSON: ") + rapidjson::GetParseError_En(d.GetParseError()) + " at column " +
            std::to_string(d.GetErrorOffset() + 1));
  if (!d.IsObject()) at.fail("a line must be a JSON object");
  if (auto h = d.FindMember("trace"); h != d.MemberEnd()) {
    if (!first) at.fail("the \"trace\" header must be the first line");
    cluster = header_cluster(at, h->value, w.name);
    return true;
  }
  const double arrival = number(at, d, "arrival_s", true, 0);
  const double duration = number(at, d, "duration_s", true, 0);
  auto r = d.FindMember("resources");
  if (r == d.MemberEnd()) at.fail("missing key \"resources\"");
  const Resources shape = resources_of(at, r->value, "resources");
  if (shape.empty()) at.fail("\"resources\" asks for nothing");
  w.add(seconds_to_ms(arrival), seconds_to_ms(duration), shape);
  return false;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char ch) { return !std::isspace(ch); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

double csv_number(const Where& at, const std::string& text, const std::string& column) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
    at.fail("column " + column + ": \"" + text + "\" is not a number >= 0");
  return v;
}

struct CsvColumns {
  std::size_t arrival = 0, duration = 0, resources = 0, count = 0;
};

CsvColumns csv_header(const Where& at, const std::string& text) {
  const std::vector<std::string> cols = split(text, ',');
  CsvColumns c;
  c.count = cols.size();
  bool a = false, d = false, r = false;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    const std::string name = trim(cols[i]);
    if (name == "arrival_s") c.arrival = i, a = true;
    if (name == "duration_s") c.duration = i, d = true;
    if (name == "resources") c.resources = i, r = true;
  }
  if (!a || !d || !r) at.fail("CSV header must name the columns arrival_s,duration_s,resources");
  return c;
}

void csv_line(const Where& at, const std::string& text, const CsvColumns& c, Workload& w) {
  const std::vector<std::string> cols = split(text, ',');
  if (cols.size() != c.count)
    at.fail("expected " + std::to_string(c.count) + " columns, found " + std::to_string(cols.size()));
  const double arrival = csv_number(at, trim(cols[c.arrival]), "arrival_s");
  const double duration = csv_number(at, trim(cols[c.duration]), "duration_s");
  Resources shape;
  for (const std::string& item : split(trim(cols[c.resources]), ';')) {
    const std::string kv = trim(item);
    if (kv.empty()) continue;
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) at.fail("column resources: \"" + kv + "\" is not NAME=AMOUNT");
    const double v = csv_number(at, trim(kv.substr(eq + 1)), "resources." + kv.substr(0, eq));
    if (v > 0) shape[trim(kv.substr(0, eq))] = v;
  }
  if (shape.empty()) at.fail("column resources asks for nothing");
  w.add(seconds_to_ms(arrival), seconds_to_ms(duration), shape);
}

std::string base_name(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') + 1);
  const auto dot = b.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? b : b.substr(0, dot);
}

}  // namespace

Workload read_trace(const std::string& path, const ClusterSpec& fallback) {
  std::ifstream in(path);
  if (!in) throw TraceError(path + ": cannot open");
  Workload w;
  ClusterSpec cluster = fallback;
  enum { unknown, jsonl, csv } kind = unknown;
  CsvColumns cols;
  bool first = true;
  std::string line;
  Where at{path, 0};
  while (std::getline(in, line)) {
    ++at.line;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t[0] == '{') {
      if (kind == csv) at.fail("a JSON line in a CSV trace");
      const bool header = json_line(at, t, w, cluster, first);
      if (!header) kind = jsonl;
    } else if (kind == unknown) {
      cols = csv_header(at, t);
      kind = csv;
    } else if (kind == csv) {
      csv_line(at, t, cols, w);
    } else {
      at.fail("a line that is not a JSON object");
    }
    first = false;
  }
  if (w.tasks.empty()) throw TraceError(path + ": no tasks");
  if (w.name.empty()) w.name = base_name(path);
  w.cluster = cluster;
  w.sort();
  return w;
}

namespace {

template <class W>
void write_resources(W& wr, const Resources& r) {
  wr.StartObject();
  for (const auto& [k, v] : r) {
    wr.Key(k.c_str());
    if (v == std::floor(v) && std::fabs(v) < 1e15) wr.Int64(static_cast<std::int64_t>(v));
    else wr.Double(v);
  }
  wr.EndObject();
}

template <class W>
void write_seconds(W& wr, ms_t ms) {
  if (ms % 1000 == 0) wr.Int64(ms / 1000);
  else wr.Double(static_cast<double>(ms) / 1000.0);
}

std::string header_line(const Workload& w) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> wr(buf);
  wr.StartObject();
  wr.Key("trace");
  wr.StartObject();
  wr.Key("name"), wr.String(w.name.c_str());
  wr.Key("node_types");
  wr.StartObject();
  for (const NodeTypeSpec& t : w.cluster.node_types) {
    wr.Key(t.name.c_str());
    wr.StartObject();
    wr.Key("resources"), write_resources(wr, t.resources);
    wr.Key("max_workers"), wr.Int(t.max_workers);
    if (t.cost_per_hour > 0) wr.Key("cost_per_hour"), wr.Double(t.cost_per_hour);
    wr.EndObject();
  }
  wr.EndObject();
  wr.Key("boot_s"), write_seconds(wr, w.cluster.boot_ms);
  wr.Key("setup_s"), write_seconds(wr, w.cluster.setup_ms);
  wr.Key("idle_timeout_s"), write_seconds(wr, w.cluster.idle_timeout_ms);
  wr.EndObject();
  wr.EndObject();
  return buf.GetString();
}

}  // namespace

void write_trace(const std::string& path, const Workload& w) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw TraceError(path + ": cannot write");
  out << header_line(w) << '\n';
  for (const Task& t : w.tasks) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> wr(buf);
    wr.StartObject();
    wr.Key("arrival_s"), write_seconds(wr, t.arrival);
    wr.Key("duration_s"), write_seconds(wr, t.duration);
    wr.Key("resources"), write_resources(wr, w.shapes[static_cast<std::size_t>(t.shape)]);
    wr.EndObject();
    out << buf.GetString() << '\n';
  }
  out.flush();
  if (!out) throw TraceError(path + ": write failed");
}

NodeTypeSpec parse_node_type_flag(const std::string& flag) {
  const std::vector<std::string> parts = split(flag, ':');
  if (parts.size() < 3 || parts.size() > 4 || parts[0].empty())
    throw std::invalid_argument("--node-type " + flag + ": expected NAME:RES=N;RES=N:MAX_WORKERS[:COST_PER_HOUR]");
  NodeTypeSpec t;
  t.name = parts[0];
  for (const std::string& kv : split(parts[1], ';')) {
    const auto eq = kv.find('=');
    char* end = nullptr;
    const double v = eq == std::string::npos ? -1 : std::strtod(kv.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || *end != '\0' || !(v >= 0))
      throw std::invalid_argument("--node-type " + flag + ": \"" + kv + "\" is not RES=AMOUNT");
    if (v > 0) t.resources[kv.substr(0, eq)] = v;
  }
  char* end = nullptr;
  const long mw = std::strtol(parts[2].c_str(), &end, 10);
  if (parts[2].empty() || *end != '\0' || mw < 0) throw std::invalid_argument("--node-type " + flag + ": bad max_workers");
  t.max_workers = static_cast<int>(mw);
  if (parts.size() == 4) {
    t.cost_per_hour = std::strtod(parts[3].c_str(), &end);
    if (*end != '\0' || !(t.cost_per_hour >= 0)) throw std::invalid_argument("--node-type " + flag + ": bad cost");
  }
  return t;
}

}  // namespace tracesim
