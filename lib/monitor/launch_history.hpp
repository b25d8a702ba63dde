// Internal: what the reconcile loop remembers of its launches per node type:
// how long nodes took to become ready, and which types cool down after a
// failed launch.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "spec/spec.hpp"

namespace raycluster::detail {

// The startups (launch call -> node ready) last seen for one node type; the
// estimate is their median, so one slow boot or one lucky cache hit does not
// move it much.
class StartupSamples {
 public:
  static constexpr std::size_t kKeep = 9;
  void add(std::chrono::milliseconds d);
  std::size_t size() const noexcept { return recent_.size(); }
  std::chrono::milliseconds median() const;

 private:
  std::deque<std::chrono::milliseconds> recent_;
};

// Startups observed per node type, for the nodes the loop launched. Written
// by the setup threads, read by the tick: thread-safe.
class StartupEstimates {
 public:
  // Records one launch-to-ready time; returns the event detail.
  std::string note(const std::string& type, std::chrono::system_clock::duration took);
  // The config's startup_seconds wins; else what the loop has seen.
  std::optional<std::chrono::milliseconds> of(const NodeTypeSpec& t);

 private:
  std::mutex mu_;
  std::map<std::string, StartupSamples> startups_;
};

// Node types not to launch for a while after a failed launch; each failure
// in a row doubles the wait, from `first` up to `max`. The tick's thread only.
class LaunchCooldowns {
 public:
  // Starts or lengthens the type's cool-down from `now`; returns its length.
  std::chrono::milliseconds fail(const std::string& type, std::chrono::system_clock::time_point now,
                                 std::chrono::milliseconds first, std::chrono::milliseconds max);
  void succeed(const std::string& type) { cooldowns_.erase(type); }
  // The types cooling down at `now`, with when they may launch again.
  std::map<std::string, std::chrono::system_clock::time_point> active(
      std::chrono::system_clock::time_point now) const;

 private:
  struct Cooldown {
    std::chrono::system_clock::time_point until{};
    std::chrono::milliseconds step{0};
  };
  std::map<std::string, Cooldown> cooldowns_;
};

}  // namespace raycluster::detail
