// TagBatcher: concurrent tag updates share commits, per node the later
// update wins, groups carry identical changes, errors reach their caller.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "providers/common/tag_batcher.hpp"

using namespace raycluster;
using raycluster::detail::TagBatcher;

TEST_CASE("updates arriving during a commit share the next one; every update is applied") {
  std::mutex mu;
  std::map<std::string, Tags> store;
  std::atomic<int> commits{0};
  TagBatcher b([&](const std::vector<TagBatcher::Update>& batch, auto&) {
    ++commits;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow write or API call
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& u : batch)
      for (const auto& id : u.ids)
        for (const auto& [k, v] : u.tags) store[id][k] = v;
  });
  constexpr int kNodes = 64;
  std::vector<std::thread> threads;
  for (int n = 0; n < kNodes; ++n)
    threads.emplace_back([&, n] {
      std::string id = "n" + std::to_string(n);
      for (const char* st : {"waiting-for-ssh", "syncing-files", "setting-up", "up-to-date"})
        b.set({id}, {{"ray-node-status", st}});
    });
  for (auto& t : threads) t.join();
  REQUIRE(store.size() == kNodes);
  for (const auto& [id, tags] : store) CHECK(tags.at("ray-node-status") == "up-to-date");
  // 256 updates; each thread's four are sequential, so at least 4 commits,
  // and far fewer than one per update.
  CHECK(commits.load() >= 4);
  CHECK(commits.load() < 64);
  CHECK(b.commits() == static_cast<std::uint64_t>(commits.load()));
}

TEST_CASE("an error set for one update reaches only its caller; a thrown one reaches all") {
  TagBatcher b([&](const std::vector<TagBatcher::Update>& batch,
                   std::vector<std::optional<Error>>& errors) {
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (batch[i].ids.front() == "gone") errors[i] = Error(ErrorCode::not_found, "no node gone");
      else if (batch[i].ids.front() == "broken") throw Error(ErrorCode::io, "disk full");
  });
  CHECK_NOTHROW(b.set({"n1"}, {{"k", "v"}}));
  try {
    b.set({"gone"}, {{"k", "v"}});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
  }
  CHECK_THROWS_AS(b.set({"broken"}, {{"k", "v"}}), Error);
  CHECK_NOTHROW(b.set({"n2"}, {{"k", "v"}}));  // errors are not left behind
}

TEST_CASE("group merges per node (later wins) and groups nodes with identical changes") {
  std::vector<TagBatcher::Update> batch = {
      {{"a", "b", "c"}, {{"ray-node-status", "waiting-for-ssh"}}},
      {{"a"}, {{"ray-node-status", "syncing-files"}}},
      {{"b"}, {{"ray-node-status", "syncing-files"}}},
      {{"c"}, {{"raycluster-failure", ""}, {"ray-node-status", "up-to-date"}}},
  };
  auto groups = TagBatcher::group(batch);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].ids == std::vector<std::string>{"a", "b"});
  CHECK(groups[0].set == Tags{{"ray-node-status", "syncing-files"}});
  CHECK(groups[0].remove.empty());
  CHECK(groups[1].ids == std::vector<std::string>{"c"});
  CHECK(groups[1].set == Tags{{"ray-node-status", "up-to-date"}});
  CHECK(groups[1].remove == std::vector<std::string>{"raycluster-failure"});
}

TEST_CASE("posted updates go out with the next set() or the flusher, and at destruction") {
  std::mutex mu;
  std::vector<std::vector<TagBatcher::Update>> commits;
  auto record = [&](const std::vector<TagBatcher::Update>& batch, auto&) {
    std::lock_guard<std::mutex> lock(mu);
    commits.push_back(batch);
  };
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return commits.size();
  };
  {
    TagBatcher b(record, std::chrono::milliseconds(100));
    b.post({"a"}, {{"ray-node-status", "waiting-for-ssh"}});
    b.post({"a"}, {{"ray-node-status", "setting-up"}});
    CHECK(count() == 0);  // post() does not commit by itself
    // A set() takes the posted updates along, in order (later wins).
    b.set({"a"}, {{"ray-node-status", "up-to-date"}});
    REQUIRE(count() == 1);
    CHECK(commits[0].size() == 3);
    auto g = TagBatcher::group(commits[0]);
    REQUIRE(g.size() == 1);
    CHECK(g[0].set.at("ray-node-status") == "up-to-date");
    // Alone, a posted update goes out within the flush interval.
    b.post({"b"}, {{"ray-node-status", "syncing-files"}});
    for (int i = 0; i < 100 && count() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(count() == 2);
    b.post({"c"}, {{"ray-node-status", "setting-up"}});
  }
  // Destruction flushed what was left.
  REQUIRE(count() == 3);
  CHECK(commits[2][0].ids == std::vector<std::string>{"c"});
}
