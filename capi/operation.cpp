#include "operation.hpp"

#include <chrono>

namespace raycluster::capi {
namespace {

// The cluster whose callback the calling thread is running, if any.
thread_local const Core* t_in_callback = nullptr;

}  // namespace

bool in_callback_of(const Core* core) noexcept { return core && t_in_callback == core; }

void Core::route(const Event& e) {
  std::shared_ptr<OpState> op;
  {
    std::lock_guard<std::mutex> lock(route_mu);
    op = changing;
  }
  if (op) {
    op->push(e);
    return;
  }
  // Not from an operation of this handle (none emits so today): deliver here.
  if (!on_event) return;
  if (e.kind == EventKind::log && static_cast<int>(e.level) < static_cast<int>(min_level)) return;
  std::lock_guard<std::mutex> lock(callback_mu);
  rc_event ev{&e};
  const Core* outer = t_in_callback;
  t_in_callback = this;
  on_event(&ev, user_data);
  t_in_callback = outer;
}

void deliver_direct(Core& core, const Event& e, rc_event_callback cb, void* user_data) noexcept {
  if (!cb) return;
  try {
    std::lock_guard<std::mutex> lock(core.callback_mu);
    rc_event ev{&e};
    const Core* outer = t_in_callback;
    t_in_callback = &core;
    try {
      cb(&ev, user_data);
    } catch (...) {
    }
    t_in_callback = outer;
  } catch (...) {  // the mutex could not be taken
  }
}

void OpState::push(Event e) {
  if (e.kind == EventKind::log && static_cast<int>(e.level) < static_cast<int>(core->min_level))
    return;
  // Unbounded on purpose: the library may emit while holding a provider
  // lock, and a callback may call rc_cluster_status(), which takes it; a
  // producer that waited for room could then deadlock.
  std::lock_guard<std::mutex> lock(mu);
  queue.push_back(std::move(e));
  cv.notify_all();
}

void OpState::deliver(const Event& e) {
  if (!on_event && !core->on_event) return;
  std::lock_guard<std::mutex> lock(core->callback_mu);
  rc_event ev{&e};
  t_in_callback = core.get();
  // C callbacks cannot throw; a C++ one that does must not end the thread.
  try {
    if (on_event) on_event(&ev, user_data);
    if (core->on_event) core->on_event(&ev, core->user_data);
  } catch (...) {
  }
  t_in_callback = nullptr;
}

void OpState::event_loop() {
  std::unique_lock<std::mutex> lock(mu);
  for (;;) {
    cv.wait(lock, [&] { return !queue.empty() || work_done; });
    if (queue.empty()) break;  // work_done and drained
    Event e = std::move(queue.front());
    queue.pop_front();
    lock.unlock();
    deliver(e);
    lock.lock();
  }
  finished = true;
  cv.notify_all();
}

Operation start_operation(const std::shared_ptr<Core>& core, OpKind kind,
                           rc_event_callback on_event, void* user_data,
                           std::function<void(OpState&)> work) {
  auto st = std::make_shared<OpState>();
  st->core = core;
  st->kind = kind;
  st->on_event = on_event;
  st->user_data = user_data;
  const bool changes = kind != OpKind::exec;
  if (changes) {
    std::lock_guard<std::mutex> lock(core->route_mu);
    if (core->changing)
      throw Error(ErrorCode::conflict,
                  "another up, scale or down of this cluster is still running");
    core->changing = st;
  }
  Operation op;
  op.st = st;
  try {
    op.events = std::thread([st] { st->event_loop(); });
    op.worker = std::thread([st, work = std::move(work), changes] {
      ErrorDetail result;
      try {
        work(*st);
      } catch (...) {
        result = detail_of_current_exception();
      }
      if (changes) {
        std::lock_guard<std::mutex> lock(st->core->route_mu);
        if (st->core->changing == st) st->core->changing.reset();
      }
      std::lock_guard<std::mutex> lock(st->mu);
      st->result = std::move(result);
      st->work_done = true;
      st->cv.notify_all();
    });
  } catch (...) {
    if (changes) {
      std::lock_guard<std::mutex> lock(core->route_mu);
      if (core->changing == st) core->changing.reset();
    }
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->work_done = true;
      st->cv.notify_all();
    }
    if (op.events.joinable()) op.events.join();
    throw;
  }
  return op;
}

bool wait_for(OpState& st, long long timeout_ms) {
  std::unique_lock<std::mutex> lock(st.mu);
  if (timeout_ms < 0) {
    st.cv.wait(lock, [&] { return st.finished; });
    return true;
  }
  return st.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return st.finished; });
}

void release(Operation& op) noexcept {
  if (!op.st) return;
  op.st->cancel.cancel();
  if (in_callback_of(op.st->core.get())) {
    // Joining here could wait for this very thread, or for an event thread
    // that waits for our callback to return. The threads own the state.
    if (op.worker.joinable()) op.worker.detach();
    if (op.events.joinable()) op.events.detach();
  } else {
    if (op.worker.joinable()) op.worker.join();
    if (op.events.joinable()) op.events.join();
  }
  op.st.reset();
}

}  // namespace raycluster::capi
