#include "monitor/setups.hpp"

#include "util/error.hpp"

namespace raycluster::detail {

void SetupPool::enqueue(const Node& node, const Node& head,
                        std::optional<std::chrono::system_clock::time_point> launched) {
  // disable_node_updaters: workers set themselves up.
  if (node.kind == NodeKind::worker && cluster_.spec().provider.disable_node_updaters) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_ || updating_.count(node.id)) return;
  updating_.insert(node.id);
  queue_.push_back({node, head, launched});
  // More work queued than idle workers to take it: add one, up to the bound.
  if (static_cast<int>(queue_.size()) > idle_ &&
      static_cast<int>(threads_.size()) < options_.max_concurrent_setups)
    threads_.emplace_back([this] { work(); });
  queued_cv_.notify_one();
}

bool SetupPool::is_updating(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return updating_.count(id) > 0;
}

void SetupPool::work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    queued_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    --idle_;
    if (stop_) return;
    SetupJob job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    set_up(job);
    lock.lock();
    updating_.erase(job.node.id);
    if (updating_.empty()) drained_cv_.notify_all();
  }
}

void SetupPool::set_up(const SetupJob& job) {
  const Node& node = job.node;
  AutoscalerEvent e;
  e.node_type = node.node_type;
  e.node_ids = {node.id};
  e.count = 1;
  bool report = true;
  try {
    cluster_.setup_node(node, job.head, cancel_);
    e.type = "node_ready";
    if (job.launched) e.detail = startups_.note(node.node_type, options_.now() - *job.launched);
  } catch (const Error& err) {
    report = err.code() != ErrorCode::cancelled;
    e.type = "setup_failed";
    e.detail = err.what();
  } catch (const std::exception& err) {
    e.type = "setup_failed";
    e.detail = err.what();
  }
  if (report) events_.emit(std::move(e));
}

void SetupPool::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  drained_cv_.wait(lock, [this] { return updating_.empty() || stop_; });
}

void SetupPool::stop() {
  cancel_.cancel();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  queued_cv_.notify_all();
  drained_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Ready for another start(): what was queued is picked up again by the
  // next tick (its nodes are still not up to date).
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
  updating_.clear();
  idle_ = 0;
  stop_ = false;
  cancel_ = CancelToken();
}

}  // namespace raycluster::detail
