// Tag updates of many nodes, committed in groups.
//
// The updater reports every status change of every node as its own
// set_tags() call; 100 nodes starting together make hundreds of them within
// seconds. A provider whose commit is costly (a durable file write, a cloud
// API call) gives each call to a TagBatcher: a call waits for the commit
// that includes it, and calls arriving while a commit is in flight share the
// next one. So the number of commits follows the number of status waves,
// not the number of nodes, and nobody waits longer than two commits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/error.hpp"
#include "providers/common/provider.hpp"

namespace raycluster::detail {

class TagBatcher {
 public:
  struct Update {
    std::vector<std::string> ids;
    Tags tags;  // an empty value removes the tag
  };
  // Applies the updates in order. May set errors[i] for update i (same size
  // as the batch); an exception fails every update of the batch.
  using Commit =
      std::function<void(const std::vector<Update>& batch, std::vector<std::optional<Error>>& errors)>;

  // `flush_interval`: how often updates given to post() are committed when
  // nobody commits sooner.
  explicit TagBatcher(Commit commit,
                      std::chrono::milliseconds flush_interval = std::chrono::seconds(1))
      : commit_(std::move(commit)), flush_interval_(flush_interval) {}
  // Commits what post() left (errors dropped), then returns.
  ~TagBatcher();
  TagBatcher(const TagBatcher&) = delete;
  TagBatcher& operator=(const TagBatcher&) = delete;

  // Returns once an update carrying these tags was committed; throws the
  // error the commit reported for it. Thread-safe.
  void set(const std::vector<std::string>& ids, const Tags& tags);
  // Queues an update and returns at once. It goes out with the next commit:
  // a set() call's, or the flusher's within flush_interval. Errors are
  // dropped: for progress reports (a node's setup status while it runs),
  // which a later set() supersedes. Thread-safe.
  void post(const std::vector<std::string>& ids, const Tags& tags);

  // The updates, merged per node (later wins) and grouped by identical
  // changes: what one API call per group can carry.
  struct Group {
    std::vector<std::string> ids;
    Tags set;                         // non-empty values
    std::vector<std::string> remove;  // keys to remove
  };
  static std::vector<Group> group(const std::vector<Update>& batch);

  std::uint64_t commits() const;

 private:
  // Commits everything queued (lk held on entry and exit); the caller must
  // have set writing_.
  void commit_pending(std::unique_lock<std::mutex>& lk);
  void flusher();

  Commit commit_;
  std::chrono::milliseconds flush_interval_;
  std::thread flusher_;
  bool stopping_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Pending {
    std::uint64_t seq;
    Update update;
    bool waited;  // set(): its error goes back to its caller
  };
  std::vector<Pending> pending_;
  std::vector<std::pair<std::uint64_t, Error>> errors_;
  std::uint64_t seq_ = 0;
  std::uint64_t committed_ = 0;
  std::uint64_t commits_ = 0;
  bool writing_ = false;
};

}  // namespace raycluster::detail
