#include "providers/common/tag_batcher.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace raycluster::detail {

TagBatcher::~TagBatcher() {
  std::unique_lock<std::mutex> lk(mu_);
  stopping_ = true;
  cv_.notify_all();
  lk.unlock();
  if (flusher_.joinable()) flusher_.join();
  lk.lock();
  while (writing_) cv_.wait(lk);
  if (!pending_.empty()) {
    writing_ = true;
    commit_pending(lk);
  }
}

void TagBatcher::commit_pending(std::unique_lock<std::mutex>& lk) {
  std::vector<Pending> taken;
  taken.swap(pending_);
  const std::uint64_t upto = seq_;
  lk.unlock();
  std::vector<Update> batch;
  batch.reserve(taken.size());
  for (auto& p : taken) batch.push_back(std::move(p.update));
  std::vector<std::optional<Error>> errors(batch.size());
  try {
    commit_(batch, errors);
  } catch (const Error& e) {
    std::fill(errors.begin(), errors.end(), e);
  } catch (const std::exception& e) {
    std::fill(errors.begin(), errors.end(), Error(ErrorCode::internal, e.what()));
  }
  lk.lock();
  for (std::size_t i = 0; i < taken.size(); ++i)
    if (errors[i] && taken[i].waited) errors_.emplace_back(taken[i].seq, *errors[i]);
  committed_ = upto;
  ++commits_;
  writing_ = false;
  cv_.notify_all();
}

void TagBatcher::set(const std::vector<std::string>& ids, const Tags& tags) {
  std::unique_lock<std::mutex> lk(mu_);
  const std::uint64_t mine = ++seq_;
  pending_.push_back(Pending{mine, Update{ids, tags}, true});
  while (committed_ < mine) {
    if (writing_) {
      cv_.wait(lk);
      continue;
    }
    // This caller commits everything queued so far, its own update included.
    writing_ = true;
    commit_pending(lk);
  }
  auto it = std::find_if(errors_.begin(), errors_.end(),
                         [&](const auto& e) { return e.first == mine; });
  if (it != errors_.end()) {
    Error e = it->second;
    errors_.erase(it);
    throw e;
  }
}

void TagBatcher::post(const std::vector<std::string>& ids, const Tags& tags) {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.push_back(Pending{++seq_, Update{ids, tags}, false});
  if (!flusher_.joinable() && !stopping_) flusher_ = std::thread([this] { flusher(); });
}

void TagBatcher::flusher() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_) {
    // Commits by set() wake this thread too: sleep out the full interval.
    auto until = std::chrono::steady_clock::now() + flush_interval_;
    cv_.wait_until(lk, until, [&] { return stopping_; });
    if (stopping_) break;
    if (pending_.empty() || writing_) continue;
    writing_ = true;
    commit_pending(lk);
  }
}

std::uint64_t TagBatcher::commits() const {
  std::lock_guard<std::mutex> lk(mu_);
  return commits_;
}

std::vector<TagBatcher::Group> TagBatcher::group(const std::vector<Update>& batch) {
  // Per node: the final value of each key it was given (empty: removed).
  std::map<std::string, Tags> per_node;
  std::vector<std::string> order;
  for (const auto& u : batch)
    for (const auto& id : u.ids) {
      auto [it, fresh] = per_node.try_emplace(id);
      if (fresh) order.push_back(id);
      for (const auto& [k, v] : u.tags) it->second[k] = v;
    }
  std::map<Tags, std::size_t> index;  // the node's changes -> group
  std::vector<Group> out;
  for (const auto& id : order) {
    const Tags& changes = per_node[id];
    auto [it, fresh] = index.try_emplace(changes, out.size());
    if (fresh) {
      Group g;
      for (const auto& [k, v] : changes) {
        if (v.empty())
          g.remove.push_back(k);
        else
          g.set[k] = v;
      }
      out.push_back(std::move(g));
    }
    out[it->second].ids.push_back(id);
  }
  return out;
}

}  // namespace raycluster::detail
