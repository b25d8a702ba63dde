// Clusters and asynchronous operations behind the C ABI. Internal to capi/.
//
// A Core (one per rc_cluster handle) owns the C++ Cluster and is shared by the
// handle and every operation started from it, so freeing the handle while an
// operation runs is safe. Each operation runs on a worker thread; its events
// go through a queue to an event thread that calls the callbacks, so
// the callbacks always see one thread per operation and never run two at a
// time for one cluster.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "guard.hpp"
#include "cluster/cluster.hpp"
#include "util/event.hpp"
#include "raycluster/raycluster.h"

struct rc_event {
  const raycluster::Event* event;
};

namespace raycluster::capi {

struct OpState;

struct Core {
  std::unique_ptr<Cluster> cluster;
  rc_event_callback on_event = nullptr;
  void* user_data = nullptr;
  LogLevel min_level = LogLevel::debug;

  std::mutex callback_mu;  // no two callbacks of one cluster at once
  std::mutex route_mu;
  std::shared_ptr<OpState> changing;  // the running up / scale / down

  // The C++ sink: hands the event to the operation that changes the cluster.
  void route(const Event& e);
};

enum class OpKind { up, scale, down, exec };

struct OpState : std::enable_shared_from_this<OpState> {
  std::shared_ptr<Core> core;
  OpKind kind = OpKind::up;
  CancelToken cancel;
  rc_event_callback on_event = nullptr;
  void* user_data = nullptr;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Event> queue;
  bool work_done = false;  // the worker returned
  bool finished = false;   // ... and every event was delivered
  ErrorDetail result;
  int exit_status = -1;
  std::string out, err;

  // Called from the worker (and the C++ library's threads); never blocks
  // for long.
  void push(Event e);
  void event_loop();
  void deliver(const Event& e);
};

// Starts `work` on a new operation; the handle owns the threads.
struct Operation {
  std::shared_ptr<OpState> st;
  std::thread worker;
  std::thread events;
};

Operation start_operation(const std::shared_ptr<Core>& core, OpKind kind,
                           rc_event_callback on_event, void* user_data,
                           std::function<void(OpState&)> work);

// Waits up to timeout_ms (negative: forever); true when finished.
bool wait_for(OpState& st, long long timeout_ms);
// Ends the operation: joins it, or (from a callback of its cluster, where a
// join could deadlock) cancels and lets it release itself when it ends.
void release(Operation& op) noexcept;

// True when the calling thread is inside a callback of this cluster.
bool in_callback_of(const Core* core) noexcept;

// Calls `cb` with `e` on the calling thread as a callback of `core`: one at a
// time with the cluster's other callbacks, marked so that in_callback_of()
// holds during it. Swallows what a C++ callback throws. Used by the
// autoscaler, whose events do not go through an operation.
void deliver_direct(Core& core, const Event& e, rc_event_callback cb, void* user_data) noexcept;

}  // namespace raycluster::capi

struct rc_operation {
  raycluster::capi::Operation op;
};
