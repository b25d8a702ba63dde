// Zones that recently had no capacity for an instance type go last.
//
// A cloud that answers "no capacity" for a type in one zone often has none
// there for a while; the next launches of that type try the other zones
// first until the cool-down passed. Keyed by (zone, instance type), timed by
// the provider context's clock. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "http/http.hpp"

namespace raycluster::detail {

class ZoneCooldown {
 public:
  using time_point = std::chrono::system_clock::time_point;

  ZoneCooldown(WallClock now, std::chrono::milliseconds period)
      : now_(std::move(now)), period_(period) {}

  // `zone` had no capacity for `type` just now.
  void mark(const std::string& zone, const std::string& type);
  // When `zone` may be tried first again for `type`: a time after now, or
  // the epoch when it may be now.
  time_point until(const std::string& zone, const std::string& type) const;

  // Stable-sorts `items` (placements, subnets...) so that zones cooling down
  // for `type` go last, the one free soonest first; zone_of(item) names an
  // item's zone.
  template <class T, class ZoneOf>
  void order(std::vector<T>& items, const std::string& type, ZoneOf zone_of) const {
    const auto now = now_();
    std::lock_guard<std::mutex> lock(mu_);
    std::stable_sort(items.begin(), items.end(), [&](const T& a, const T& b) {
      return until_locked(zone_of(a), type, now) < until_locked(zone_of(b), type, now);
    });
  }

 private:
  time_point until_locked(const std::string& zone, const std::string& type, time_point now) const;

  WallClock now_;
  std::chrono::milliseconds period_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, time_point> until_;
};

}  // namespace raycluster::detail
