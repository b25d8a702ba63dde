#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/refreshing_credentials.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

namespace {

const Clock::time_point kT0 = Clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z

// A credential that says which fetch produced it.
struct Cred {
  std::string name;
  bool operator==(const Cred&) const = default;
};

// A fake clock and a scripted fetch: each fetch returns "c<n>" valid for
// `lifetime` from the fake now, or throws while `failing` is set.
struct Fixture {
  std::mutex mu;
  Clock::time_point now = kT0;
  std::chrono::seconds lifetime = std::chrono::hours(1);
  bool expires = true;
  bool failing = false;
  std::atomic<int> fetches{0};
  std::chrono::milliseconds fetch_takes{0};

  WallClock clock() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu);
      return now;
    };
  }
  void advance(std::chrono::seconds d) {
    std::lock_guard<std::mutex> lock(mu);
    now += d;
  }
  RefreshingCredentials<Cred>::Fetch fetch() {
    return [this](const CancelToken&) {
      int n = ++fetches;
      if (fetch_takes.count() > 0) std::this_thread::sleep_for(fetch_takes);
      std::lock_guard<std::mutex> lock(mu);
      if (failing) throw Error(ErrorCode::auth, "fetch " + std::to_string(n) + " failed");
      Expiring<Cred> e{{"c" + std::to_string(n)}, std::nullopt};
      if (expires) e.expires_at = now + lifetime;
      return e;
    };
  }
  RefreshingCredentials<Cred> source(RefreshOptions o = {}) { return {fetch(), clock(), o}; }
};

}  // namespace

TEST_CASE("refreshing credentials: fetched on first use, then cached until the margin") {
  Fixture f;
  auto s = f.source();  // margins: advisory 5 min, mandatory 2 min
  CHECK(f.fetches == 0);
  CHECK(s.get().name == "c1");
  CHECK(s.current().expires_at == kT0 + 1h);
  f.advance(55min);  // exactly 5 min left: not yet (botocore's rule too)
  CHECK(s.get().name == "c1");
  CHECK(f.fetches == 1);
  f.advance(1s);  // 4 min 59 s left: refresh
  CHECK(s.get().name == "c2");
  CHECK(f.fetches == 2);
  CHECK(s.current().expires_at == kT0 + 55min + 1s + 1h);
  CHECK(s.get().name == "c2");
  CHECK(f.fetches == 2);
}

TEST_CASE("refreshing credentials: without an expiry they are fetched once, ever") {
  Fixture f;
  f.expires = false;
  auto s = f.source();
  CHECK(s.get().name == "c1");
  f.advance(std::chrono::hours(24 * 365));
  for (int i = 0; i < 10; ++i) CHECK(s.get().name == "c1");
  CHECK(f.fetches == 1);
  CHECK_FALSE(s.current().expires_at.has_value());
  // Only a refusal makes it fetch again.
  CHECK(s.refresh(Cred{"c1"}).name == "c2");
  CHECK(f.fetches == 2);
}

TEST_CASE("refreshing credentials: a failed fetch in the advisory window keeps the cached ones") {
  Fixture f;
  auto s = f.source();
  CHECK(s.get().name == "c1");
  f.failing = true;
  f.advance(57min);  // 3 min left: advisory window (between 5 and 2 min)
  CHECK(s.get().name == "c1");  // tried, failed, old ones still valid
  CHECK(f.fetches == 2);
  // Not tried again before retry_interval (30 s) has passed.
  f.advance(29s);
  CHECK(s.get().name == "c1");
  CHECK(f.fetches == 2);
  f.advance(1s);
  CHECK(s.get().name == "c1");
  CHECK(f.fetches == 3);
  // Recovered: the next attempt replaces them.
  f.failing = false;
  f.advance(30s);
  CHECK(s.get().name == "c4");
  CHECK(f.fetches == 4);
}

TEST_CASE("refreshing credentials: in the advisory window only the fetching thread waits") {
  Fixture f;
  auto s = f.source();
  CHECK(s.get().name == "c1");
  f.advance(57min);
  f.fetch_takes = 300ms;
  std::string fetcher_got;
  std::thread fetcher([&] { fetcher_got = s.get().name; });
  std::this_thread::sleep_for(100ms);
  CHECK(s.get().name == "c1");  // at once, while the fetch runs
  fetcher.join();
  CHECK(fetcher_got == "c2");
  CHECK(f.fetches == 2);
  CHECK(s.get().name == "c2");
}

TEST_CASE("refreshing credentials: a failed fetch in the mandatory window throws, every time") {
  Fixture f;
  auto s = f.source();
  CHECK(s.get().name == "c1");
  f.failing = true;
  f.advance(58min + 30s);  // 90 s left: mandatory window
  for (int i = 2; i <= 4; ++i) {
    try {
      s.get();
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::auth);
      CHECK(std::string(e.what()) == "fetch " + std::to_string(i) + " failed");
    }
  }
  CHECK(f.fetches == 4);  // no cooldown here: nothing valid to hand out meanwhile
  f.failing = false;
  CHECK(s.get().name == "c5");
}

TEST_CASE("refreshing credentials: the first fetch failing throws; nothing is cached") {
  Fixture f;
  f.failing = true;
  auto s = f.source();
  CHECK_THROWS_AS(s.get(), Error);
  f.failing = false;
  CHECK(s.get().name == "c2");
}

TEST_CASE("refreshing credentials: credentials fetched already expired are an auth error") {
  Fixture f;
  f.lifetime = 0s;
  auto s = f.source();
  try {
    s.get();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    CHECK(std::string(e.what()).find("system clock") != std::string::npos);
  }
}

TEST_CASE("refreshing credentials: the service handing back the same soon-expiring ones is not asked on every call") {
  Fixture f;
  f.lifetime = 4min;  // always inside the advisory window, as IMDS before it rotates
  auto s = f.source();
  CHECK(s.get().name == "c1");
  for (int i = 0; i < 20; ++i) CHECK(s.get().name == "c1");
  CHECK(f.fetches == 1);
  f.advance(30s);
  CHECK(s.get().name == "c2");
  CHECK(f.fetches == 2);
}

TEST_CASE("refreshing credentials: eight threads asking at expiry cause exactly one fetch") {
  for (auto at : {0min, 59min, 61min}) {  // nothing cached / mandatory window / expired
    CAPTURE(at.count());
    Fixture f;
    auto s = f.source();
    if (at.count() > 0) {
      CHECK(s.get().name == "c1");
      f.advance(at);
    }
    f.fetch_takes = 100ms;  // long enough for every thread to arrive while it runs
    constexpr int kThreads = 12;
    std::latch start(kThreads);
    std::vector<std::string> got(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        got[i] = s.get().name;
      });
    for (auto& t : threads) t.join();
    const std::string want = at.count() > 0 ? "c2" : "c1";
    CHECK(f.fetches == (at.count() > 0 ? 2 : 1));
    for (const auto& g : got) CHECK(g == want);
  }
}

TEST_CASE("refreshing credentials: a fetch failure goes to every thread that waited for it") {
  Fixture f;
  f.failing = true;
  f.fetch_takes = 300ms;
  auto s = f.source();
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        s.get();
      } catch (const Error& e) {
        if (std::string(e.what()) == "fetch 1 failed") ++failed;
      }
    });
  for (auto& t : threads) t.join();
  // Each thread either waited for fetch 1 or came after it and fetched anew;
  // with a 300 ms fetch and a common start, all of them waited for the first.
  CHECK(f.fetches == 1);
  CHECK(failed == kThreads);
}

TEST_CASE("refreshing credentials: a forced refresh of credentials another thread already replaced fetches nothing") {
  Fixture f;
  auto s = f.source();
  Cred stale = s.get();
  CHECK(s.refresh(stale).name == "c2");  // the first refusal fetches
  CHECK(f.fetches == 2);
  CHECK(s.refresh(stale).name == "c2");  // a second request refused with c1: already replaced
  CHECK(f.fetches == 2);
  CHECK(s.refresh(Cred{"c2"}).name == "c3");  // c2 refused in turn: fetch
  CHECK(f.fetches == 3);
}

TEST_CASE("refreshing credentials: a burst of refusals of the same credentials causes one fetch") {
  Fixture f;
  auto s = f.source();
  Cred stale = s.get();
  f.fetch_takes = 100ms;
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::string> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      got[i] = s.refresh(stale).name;
    });
  for (auto& t : threads) t.join();
  CHECK(f.fetches == 2);
  for (const auto& g : got) CHECK(g == "c2");
}

TEST_CASE("refreshing credentials: a forced refresh that fails throws even while the cached ones are valid") {
  Fixture f;
  auto s = f.source();
  Cred stale = s.get();
  f.failing = true;
  CHECK_THROWS_AS(s.refresh(stale), Error);
  // get() still hands out the cached ones: the clock says they are valid.
  CHECK(s.get().name == "c1");
}

TEST_CASE("refreshing credentials: a waiter whose token fires stops waiting; the fetch goes on") {
  Fixture f;
  f.fetch_takes = 300ms;
  auto s = f.source();
  std::thread first([&] { CHECK(s.get().name == "c1"); });
  std::this_thread::sleep_for(50ms);  // let it start the fetch
  CancelToken cancel;
  cancel.cancel();
  try {
    s.get(cancel);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::cancelled);
  }
  first.join();
  CHECK(f.fetches == 1);
  CHECK(s.get().name == "c1");
}

TEST_CASE("refreshing credentials: a fetch cancelled by its caller is not held against other waiters") {
  Fixture f;
  CancelToken cancel_first;
  std::atomic<int> calls{0};
  RefreshingCredentials<Cred> s(
      [&](const CancelToken& c) -> Expiring<Cred> {
        int n = ++calls;
        if (n == 1) {
          std::this_thread::sleep_for(300ms);
          c.throw_if_cancelled();
        }
        return {{"c" + std::to_string(n)}, std::nullopt};
      },
      f.clock());
  std::thread first([&] { CHECK_THROWS_AS(s.get(cancel_first), Error); });
  std::this_thread::sleep_for(100ms);
  std::thread second([&] { CHECK(s.get().name == "c2"); });
  std::this_thread::sleep_for(100ms);
  cancel_first.cancel();
  first.join();
  second.join();
  CHECK(calls == 2);
}
