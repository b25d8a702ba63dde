// Internal: what the autoscaler on the head tells `raycluster status` about
// itself, in <dir>/status.json (written atomically after each tick and
// decision) and <dir>/monitor.pid.
//
// status.json: {"pid", "started", "ticks", "last_tick" (unix seconds, null
// before the first), "last_tick_detail", "last_decision" (text or null),
// "last_decision_time", "task_durations" (the last "durations" event's
// detail: per-shape estimates the planner uses, or null)}.
#pragma once

#include <string>

#include "monitor/autoscaler_loop.hpp"

namespace raycluster::detail {

class HeadStatusWriter {
 public:
  // Writes monitor.pid and a first status.json into `dir` (made if absent).
  explicit HeadStatusWriter(std::string dir);
  // Feed every event of the loop (one thread at a time).
  void on_event(const AutoscalerEvent& e);

 private:
  void write();

  std::string dir_;
  double started_ = 0;
  std::int64_t ticks_ = 0;
  double last_tick_ = 0;
  std::string last_tick_detail_;
  std::string last_decision_;
  double last_decision_time_ = 0;
  std::string task_durations_;
};

}  // namespace raycluster::detail
