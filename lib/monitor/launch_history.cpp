#include "monitor/launch_history.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace raycluster::detail {

using std::chrono::milliseconds;

namespace {

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

void StartupSamples::add(milliseconds d) {
  recent_.push_back(d);
  if (recent_.size() > kKeep) recent_.pop_front();
}

milliseconds StartupSamples::median() const {
  std::vector<milliseconds> v(recent_.begin(), recent_.end());
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string StartupEstimates::note(const std::string& type, std::chrono::system_clock::duration took) {
  auto d = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(took));
  std::lock_guard<std::mutex> lock(mu_);
  auto& samples = startups_[type];
  samples.add(d);
  return "ready " + seconds_text(d) + " after launch; " + type + " startup estimate " +
         seconds_text(samples.median()) + " (median of " + std::to_string(samples.size()) + ")";
}

std::optional<milliseconds> StartupEstimates::of(const NodeTypeSpec& t) {
  // lib/spec admits finite values >= 0; a spec built in code may hold
  // anything: a negative or NaN is unknown, a huge one is capped (~30 years).
  if (t.startup_seconds && *t.startup_seconds >= 0)
    return milliseconds(std::llround(std::min(*t.startup_seconds, 1e9) * 1000.0));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = startups_.find(t.name);
  if (it == startups_.end() || it->second.size() == 0) return std::nullopt;
  return it->second.median();
}

milliseconds LaunchCooldowns::fail(const std::string& type, std::chrono::system_clock::time_point now,
                                   milliseconds first, milliseconds max) {
  auto& c = cooldowns_[type];
  c.step = c.step.count() == 0 ? first : std::min(c.step * 2, max);
  c.until = now + c.step;
  return c.step;
}

std::map<std::string, std::chrono::system_clock::time_point> LaunchCooldowns::active(
    std::chrono::system_clock::time_point now) const {
  std::map<std::string, std::chrono::system_clock::time_point> out;
  for (const auto& [type, c] : cooldowns_)
    if (c.until > now) out[type] = c.until;
  return out;
}

}  // namespace raycluster::detail
