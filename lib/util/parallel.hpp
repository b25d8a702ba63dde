// Bounded parallelism: run fn over items with at most `threads` at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace raycluster::detail {

// Calls fn(i) for i in [0, n) on up to `threads` threads (the caller's thread
// included). Every call runs even if another throws; the first exception is
// rethrown once all have finished.
template <class Fn>
void parallel_for(std::size_t n, std::size_t threads, Fn&& fn) {
  if (n == 0) return;
  threads = std::max<std::size_t>(1, std::min(threads, n));
  std::atomic<std::size_t> next{0};
  std::exception_ptr first;
  std::mutex mu;
  auto worker = [&] {
    for (;;) {
      std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first) first = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace raycluster::detail
