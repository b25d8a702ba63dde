// Internal: how long tasks of each resource shape run, learned from Ray's
// state API (GET <dashboard>/api/v0/tasks), for the planner's duration-aware
// upscaling (PlannerPolicy::launch_payback, PlannerInput::task_durations).
//
// Ray's autoscaler report carries no durations; the state API lists tasks
// with their required_resources and the times they started RUNNING and
// FINISHED. Each read asks for finished normal tasks (state=FINISHED,
// detail, a bounded limit); the durations (end - start) of tasks not seen
// before are folded into a per-shape estimate: a mean whose samples lose
// half their weight per kHalfLife of the head's time (by their end times),
// so a workload that changes is followed, and a tail (p90 of the last
// kRecentPerShape). The shape is required_resources with zero amounts
// dropped: the same ResourceMap the head's load report gives for the
// pending demand of those tasks, so the planner matches them.
//
// Ray keeps a bounded number of task events (RAY_task_events_max_num_task_in_gcs)
// and the answer is cut at the limit after sorting by task id: what is read
// is then a sample. The page says so (total, num_after_truncation,
// num_filtered against the rows returned), and the estimate's description
// says how much it saw; a mean over a sample of task ids is still a mean of
// the same durations, so the estimate is used.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "autoscaler/autoscaler.hpp"
#include "http/http.hpp"
#include "monitor/event_emitter.hpp"

namespace raycluster::detail {

// Rows asked per read (Ray's default limit is 100, its maximum 10,000).
inline constexpr int kTaskRowsPerRead = 500;
// Answers larger than this are refused unparsed.
inline constexpr std::size_t kMaxTasksAnswerBytes = 32u << 20;

// One finished task as the state API reports it.
struct FinishedTask {
  std::string key;  // task id and attempt: "<task_id>/<attempt>"
  ResourceMap shape;
  std::int64_t start_ms = 0;  // unix ms on the head's clock (RUNNING)
  std::int64_t end_ms = 0;    // FINISHED
};

// One answer of GET /api/v0/tasks.
struct TaskPage {
  bool ok = false;
  std::string error;                // why not ok
  std::vector<FinishedTask> tasks;  // usable rows
  std::int64_t total = 0;           // tasks Ray knew of, those whose events it dropped included
  std::int64_t kept = 0;            // num_after_truncation: what the GCS still held
  std::int64_t matched = 0;         // num_filtered: of those, the finished ones
  std::int64_t rows = 0;            // rows in the answer
  std::int64_t unusable = 0;        // rows without times, without a shape, or not a normal task
  std::string warning;              // partial_failure_warning and warnings, joined

  // Ray dropped task events, or the limit cut the answer.
  bool sampled() const { return total > kept || matched > rows; }
};

// The query path of one read: finished tasks, with details, `limit` rows.
std::string ray_tasks_query(int limit);

// Parses an answer body of /api/v0/tasks (Ray 2.x: {"result": bool, "msg",
// "data": {"result": {"result": [rows], "total", "num_after_truncation",
// "num_filtered", "partial_failure_warning", "warnings"}}}). Rows missing a
// field, with a negative or reversed time, or not of type NORMAL_TASK are
// counted in `unusable`; a body that is not such an answer gives ok = false.
// Bodies above kMaxTasksAnswerBytes are refused. Throws nothing.
TaskPage parse_ray_tasks(std::string_view json);

// One shape's estimate.
struct ShapeDuration {
  ResourceMap shape;
  double mean_ms = 0;  // decaying mean
  double p90_ms = 0;   // of the last kRecentPerShape tasks
  std::int64_t tasks = 0;  // tasks counted in all
};

// Folds pages into per-shape estimates. Pure: time is the head's, from the
// tasks' end times. Not thread-safe.
class TaskDurationTracker {
 public:
  static constexpr std::chrono::milliseconds kHalfLife{10 * 60 * 1000};
  // A task ending this long before the newest seen is taken as seen
  // already (task events reach the GCS up to a few seconds late).
  static constexpr std::int64_t kLateMs = 60 * 1000;
  static constexpr std::size_t kRecentPerShape = 64;
  static constexpr std::size_t kMaxShapes = 256;

  // Adds the page's tasks not counted before; returns how many were new.
  int add(const TaskPage& page);
  // Sorted by shape.
  std::vector<ShapeDuration> estimates() const;
  std::vector<TaskDurationEstimate> planner_estimates() const;

 private:
  struct Shape {
    double sum = 0, weight = 0;  // decayed to newest_end_
    std::int64_t tasks = 0;
    std::vector<double> recent;  // ring of durations (ms)
    std::size_t next = 0;
  };
  void decay_to(std::int64_t end_ms);

  std::map<ResourceMap, Shape> shapes_;
  std::unordered_map<std::string, std::int64_t> seen_;  // key -> end ms, within kLateMs of the newest
  std::int64_t newest_end_ = 0;
};

// "{"CPU":1}: 2.0 s (p90 2.3 s, 14 tasks); ...", or "none".
std::string describe_durations(const std::vector<ShapeDuration>& ds);

// Reads the head's state API in the background, at most every `interval`,
// so that a slow or failing state API never holds up a tick; folds finished
// reads in on the tick's thread. Events: "durations" when the estimates
// change, "load_error" ("task durations: ...") when a read fails (then the
// last estimates stay, and reads back off up to 5 minutes).
class TaskDurationReader {
 public:
  TaskDurationReader(EventEmitter& events, std::chrono::milliseconds interval)
      : events_(events), interval_(interval) {}
  ~TaskDurationReader();  // cancels a read in flight and waits for it
  TaskDurationReader(const TaskDurationReader&) = delete;
  TaskDurationReader& operator=(const TaskDurationReader&) = delete;

  // Takes in a finished read, and starts the next one from `base_url`
  // (Ray's dashboard, as the load is read) when one is due. Never waits.
  void poll(const std::string& base_url, std::shared_ptr<HttpTransport> transport,
            std::chrono::system_clock::time_point now);
  const std::vector<TaskDurationEstimate>& estimates() const { return planner_; }
  // The estimates and how much of Ray's record they come from.
  const std::string& description() const { return description_; }

 private:
  void take(TaskPage page, std::chrono::system_clock::time_point now);

  EventEmitter& events_;
  std::chrono::milliseconds interval_;
  TaskDurationTracker tracker_;
  std::vector<TaskDurationEstimate> planner_;
  std::string description_, last_signature_, last_error_;
  std::future<TaskPage> inflight_;
  CancelToken cancel_;
  std::chrono::system_clock::time_point next_read_{};
  std::chrono::milliseconds backoff_{0};
};

}  // namespace raycluster::detail
