// raycluster: a CredentialsSource that caches what a fetch function returns
// and fetches again before it expires.
//
// Two windows before the expiry, as AWS's SDKs have them (botocore's
// RefreshableCredentials: advisory 15 min, mandatory 10 min; ours are
// shorter because AWS makes new instance-role credentials available only
// five minutes ahead, and an earlier fetch would just get the old ones back):
//
//   - advisory (less than refresh_margin left): the first caller fetches; the
//     callers that come while it does get the cached credentials at once. A
//     failed fetch keeps the cached credentials (they are still valid) and is
//     tried again no sooner than retry_interval later.
//   - mandatory (less than mandatory_margin left, or expired): the cached
//     credentials are not handed out; every caller waits for one fetch, and
//     its failure is thrown to all of them.
//
// Credentials without an expiry are fetched once and never again, except by
// refresh(). A fetch that returns credentials already inside the mandatory
// window is accepted (they are valid), and the next get() fetches again. Single flight: at most one fetch runs at a time, whichever
// thread asked; the threads that wait for it get its result or its error. A
// fetch that failed because its own caller cancelled is not held against
// waiters whose tokens did not fire: one of them fetches anew.
//
// T must be copyable and equality-comparable (refresh() compares the stale
// value with the cached one).
//
// Errors: what the fetch function throws; Error(auth) when it returns
// credentials that have already expired (a wrong clock, usually);
// Error(cancelled) when the caller's token fires while it waits.
// Thread-safety: get(), current() and refresh() may be called from any
// number of threads; the fetch function is never called concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "auth/credentials.hpp"
#include "http/http.hpp"
#include "util/error.hpp"

namespace raycluster {

struct RefreshOptions {
  // The advisory window: a fetch starts this long before the expiry.
  std::chrono::seconds refresh_margin{std::chrono::minutes(5)};
  // The mandatory window: credentials this close to expiry are never handed
  // out. Longer than one call's retry budget (RetryPolicy::budget, 60 s by
  // default), so a request signed now is still valid when it is last resent.
  std::chrono::seconds mandatory_margin{std::chrono::minutes(2)};
  // After a fetch in the advisory window, the next one in that window waits
  // this long (when it failed, or the service handed back credentials that
  // are still about to expire).
  std::chrono::seconds retry_interval{30};
};

template <class T>
class RefreshingCredentials final : public CredentialsSource<T> {
 public:
  using Fetch = std::function<Expiring<T>(const CancelToken&)>;

  // `fetch` is required; `now` defaults to the system clock.
  RefreshingCredentials(Fetch fetch, WallClock now, RefreshOptions options = {})
      : fetch_(std::move(fetch)), now_(std::move(now)), options_(options) {
    if (!now_) now_ = real_wall_clock();
  }

  T get(const CancelToken& cancel = {}) override { return current(cancel).value; }

  T refresh(const T& stale, const CancelToken& cancel = {}) override {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (flight_) {
        // Started after `stale` was handed out, so its result is newer.
        auto f = flight_;
        if (auto got = await(lock, *f, cancel)) return got->value;
        continue;
      }
      if (cached_ && !(cached_->value == stale)) return current_locked(lock, cancel).value;
      return fly(lock, cancel).value;
    }
  }

  // As get(), with the expiry.
  Expiring<T> current(const CancelToken& cancel = {}) {
    std::unique_lock<std::mutex> lock(mu_);
    return current_locked(lock, cancel);
  }

 private:
  struct Flight {
    bool done = false;
    std::optional<Expiring<T>> result;
    // A failed fetch, as each waiter throws its own copy of it: one exception
    // object rethrown on several threads at once would be shared by them.
    std::optional<Error> error;
  };

  Expiring<T> current_locked(std::unique_lock<std::mutex>& lock, const CancelToken& cancel) {
    for (;;) {
      auto now = now_();
      if (cached_) {
        if (!cached_->expires_at) return *cached_;
        auto left = *cached_->expires_at - now;
        if (left >= options_.refresh_margin) return *cached_;
        if (left >= options_.mandatory_margin) {
          if (flight_ || (last_fetch_ && now - *last_fetch_ < options_.retry_interval))
            return *cached_;
          try {
            return fly(lock, cancel);
          } catch (const Error& e) {
            if (e.code() == ErrorCode::cancelled) throw;
            // Advisory: the cached credentials are still good for a while.
            if (cached_ && cached_->expires_at && *cached_->expires_at > now_()) return *cached_;
            throw;
          }
        }
      }
      if (flight_) {
        auto f = flight_;
        if (auto got = await(lock, *f, cancel)) return *got;
        continue;
      }
      return fly(lock, cancel);
    }
  }

  // Fetches on this thread as the one flight; `lock` is held on entry and on
  // return, released during the fetch.
  Expiring<T> fly(std::unique_lock<std::mutex>& lock, const CancelToken& cancel) {
    cancel.throw_if_cancelled();
    auto f = std::make_shared<Flight>();
    flight_ = f;
    last_fetch_ = now_();
    lock.unlock();
    std::optional<Expiring<T>> got;
    std::exception_ptr error;
    try {
      got = fetch_(cancel);
      if (got->expires_at) {
        auto past = std::chrono::duration_cast<std::chrono::seconds>(now_() - *got->expires_at);
        if (past.count() >= 0)
          throw Error(ErrorCode::auth, "the credentials just fetched expired " +
                                           std::to_string(past.count()) +
                                           " s ago; is the system clock right?");
      }
    } catch (...) {
      got.reset();
      error = std::current_exception();
    }
    lock.lock();
    if (got) cached_ = *got;
    f->done = true;
    f->result = got;
    if (error) f->error = error_of(error);
    flight_.reset();
    cv_.notify_all();
    if (error) std::rethrow_exception(error);
    return *got;
  }

  // Waits for `f`. Its result; nullopt when it failed only because its own
  // caller cancelled (and ours did not): the caller should look again.
  std::optional<Expiring<T>> await(std::unique_lock<std::mutex>& lock, const Flight& f,
                                   const CancelToken& cancel) {
    // CancelToken cannot wake this condition variable, so look at it now and then.
    while (!f.done) {
      cancel.throw_if_cancelled();
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (f.error) {
      if (f.error->code() == ErrorCode::cancelled && !cancel.cancelled()) return std::nullopt;
      throw Error(f.error->code(), std::string(f.error->what()), f.error->retryable(),
                  f.error->request_id());
    }
    return f.result;
  }

  // A deep copy of what a fetch threw, as an Error.
  static Error error_of(const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      return Error(e.code(), std::string(e.what()), e.retryable(), e.request_id());
    } catch (const std::exception& e) {
      return Error(ErrorCode::internal, std::string(e.what()));
    } catch (...) {
      return Error(ErrorCode::internal, "fetching credentials failed");
    }
  }

  Fetch fetch_;
  WallClock now_;
  RefreshOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Expiring<T>> cached_;
  std::shared_ptr<Flight> flight_;
  std::optional<std::chrono::system_clock::time_point> last_fetch_;
};

}  // namespace raycluster
