#include <algorithm>
#include <cstdio>

#include "autoscaler/autoscaler.hpp"

namespace raycluster {

ResourceMap::ResourceMap(std::initializer_list<Entry> entries) {
  for (const auto& [k, v] : entries) set(k, v);
}

void ResourceMap::set(std::string_view name, double amount) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry& e, std::string_view n) { return e.first < n; });
  bool found = it != entries_.end() && it->first == name;
  if (amount == 0) {
    if (found) entries_.erase(it);
  } else if (found) {
    it->second = amount;
  } else {
    entries_.insert(it, Entry(std::string(name), amount));
  }
}

double ResourceMap::get(std::string_view name) const noexcept {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const Entry& e, std::string_view n) { return e.first < n; });
  return it != entries_.end() && it->first == name ? it->second : 0.0;
}

namespace {
void append_number(std::string& out, double v) {
  char buf[40];
  if (v == static_cast<double>(static_cast<long long>(v)) && v > -9.0e15 && v < 9.0e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.17g", v);
  out += buf;
}

void append_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}
}  // namespace

std::string ResourceMap::to_json() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : entries_) {
    if (!first) out += ',';
    first = false;
    append_string(out, k);
    out += ':';
    append_number(out, v);
  }
  out += '}';
  return out;
}

const char* launch_reason_name(LaunchReason r) noexcept {
  switch (r) {
    case LaunchReason::min_workers: return "min_workers";
    case LaunchReason::request_resources: return "request_resources";
    case LaunchReason::placement_group: return "placement_group";
    case LaunchReason::demand: return "demand";
  }
  return "unknown";
}

const char* termination_reason_name(TerminationReason r) noexcept {
  switch (r) {
    case TerminationReason::idle: return "idle";
    case TerminationReason::outdated: return "outdated";
    case TerminationReason::above_max: return "above_max";
    case TerminationReason::type_removed: return "type_removed";
    case TerminationReason::failed_setup: return "failed_setup";
  }
  return "unknown";
}

int Plan::launch_count(std::string_view node_type) const noexcept {
  int n = 0;
  for (const auto& l : launches)
    if (l.node_type == node_type) n += l.count;
  return n;
}

std::map<std::string, int> Plan::launch_totals() const {
  std::map<std::string, int> out;
  for (const auto& l : launches) out[l.node_type] += l.count;
  return out;
}

}  // namespace raycluster
