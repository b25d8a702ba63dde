// Internal: the reconcile loop's background setups of the nodes it launched
// or found half set up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "monitor/autoscaler_loop.hpp"
#include "monitor/event_emitter.hpp"
#include "monitor/launch_history.hpp"

namespace raycluster::detail {

// Sets nodes up on up to options.max_concurrent_setups threads, started as
// work arrives. A node is queued once while queued or running; each result
// becomes a "node_ready" (with the startup noted in `startups` when the loop
// launched the node) or "setup_failed" event. Thread-safe. The arguments
// must outlive the pool; stop() before destroying it.
class SetupPool {
 public:
  SetupPool(Cluster& cluster, const AutoscalerOptions& options, EventEmitter& events,
            StartupEstimates& startups)
      : cluster_(cluster), options_(options), events_(events), startups_(startups) {}

  // `launched`: when the loop asked for the node, if it did.
  void enqueue(const Node& node, const Node& head,
               std::optional<std::chrono::system_clock::time_point> launched = std::nullopt);
  bool is_updating(const std::string& id);
  // Waits until every setup started so far has finished, or stop().
  void drain();
  // Cancels the setups, joins their threads and forgets what was queued;
  // the pool can be used again afterwards.
  void stop();

 private:
  struct SetupJob {
    Node node;
    Node head;
    std::optional<std::chrono::system_clock::time_point> launched;
  };

  void work();
  void set_up(const SetupJob& job);

  Cluster& cluster_;
  const AutoscalerOptions& options_;
  EventEmitter& events_;
  StartupEstimates& startups_;

  std::mutex mu_;
  std::condition_variable queued_cv_;
  std::condition_variable drained_cv_;
  std::deque<SetupJob> queue_;
  std::set<std::string> updating_;  // queued or running
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool stop_ = false;
  CancelToken cancel_;
};

}  // namespace raycluster::detail
