// raycluster: progress events and cancellation of long operations.
//
// Long operations (up, scale, down, exec) report Events to an EventSink and
// stop early when their CancelToken fires. The sink may be called from any of
// the operation's worker threads, but never from two threads at once for one
// operation: the library serialises calls to one sink.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace raycluster {

enum class EventKind {
  node_status = 1,  // a node's setup status changed (status holds the new one)
  progress = 2,     // done of total steps of the operation
  log = 3,          // a line of command output or a message
};

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3 };

struct Event {
  EventKind kind = EventKind::log;
  LogLevel level = LogLevel::info;
  std::string node_id;    // empty for cluster-wide events
  std::string node_type;  // user node type of node_id
  std::string status;     // node_status: Ray's status name
  std::string message;    // log: the line (no newline); otherwise a description
  std::string stream;     // log lines of commands: "stdout" or "stderr"
  int done = 0;           // progress
  int total = 0;          // progress
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
};

using EventSink = std::function<void(const Event&)>;

// Sends `message` to `events` as a log event of `level`; nothing without a sink.
inline void log_event(const EventSink& events, LogLevel level, std::string message) {
  if (!events) return;
  Event e;
  e.kind = EventKind::log;
  e.level = level;
  e.message = std::move(message);
  events(e);
}

// Shared, thread-safe cancellation flag with an interruptible sleep.
// Copies share the same state.
class CancelToken {
 public:
  CancelToken() : state_(std::make_shared<State>()) {}

  void cancel() const {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->cancelled = true;
    }
    state_->cv.notify_all();
  }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->cancelled;
  }
  // Sleeps up to d; returns false (early) when cancelled.
  bool sleep_for(std::chrono::milliseconds d) const {
    std::unique_lock<std::mutex> lock(state_->mu);
    return !state_->cv.wait_for(lock, d, [this] { return state_->cancelled; });
  }
  // Throws Error(cancelled) when cancelled.
  void throw_if_cancelled() const;

 private:
  struct State {
    mutable std::mutex mu;
    std::condition_variable cv;
    bool cancelled = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace raycluster
