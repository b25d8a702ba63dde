// Unit tests of the worker bounds shared by up, scale and the planner.
#include <doctest/doctest.h>

#include <string>

#include "autoscaler/bounds.hpp"

using namespace raycluster::detail;

namespace doctest {
template <>
struct StringMaker<WorkerRange> {
  static String convert(WorkerRange r) {
    return ("[" + std::to_string(r.min) + ", " + std::to_string(r.max) + "]").c_str();
  }
};
}  // namespace doctest

TEST_CASE("type_worker_range: min_workers up to max_workers") {
  CHECK(type_worker_range({1, 4}) == WorkerRange{1, 4});
  CHECK(type_worker_range({0, 0}) == WorkerRange{0, 0});
}

TEST_CASE("type_worker_range: a min above the max is lowered to the max") {
  CHECK(type_worker_range({5, 2}) == WorkerRange{2, 2});
  CHECK(type_worker_range({3, 0}) == WorkerRange{0, 0});
}

TEST_CASE("worker_range: the cluster's max lowers the type's max by the other workers") {
  CHECK(worker_range({1, 10}, 6, 2) == WorkerRange{1, 4});
  CHECK(worker_range({0, 3}, 100, 50) == WorkerRange{0, 3});
}

TEST_CASE("worker_range: a type max of 0 allows no worker at all") {
  CHECK(worker_range({0, 0}, 10, 0) == WorkerRange{0, 0});
  CHECK(worker_room({0, 0}, 10, 0, 0) == 0);
}

TEST_CASE("worker_range: a cluster max below the sum of the mins lowers the min") {
  // Two types with min 3 each under a cluster max of 4: the second gets 1.
  CHECK(worker_range({3, 5}, 4, 3) == WorkerRange{1, 1});
  // The others already fill the cluster (or more): nothing, never negative.
  CHECK(worker_range({3, 5}, 4, 4) == WorkerRange{0, 0});
  CHECK(worker_range({3, 5}, 4, 7) == WorkerRange{0, 0});
}

TEST_CASE("worker_range: min above max within the cluster") {
  CHECK(worker_range({5, 2}, 10, 0) == WorkerRange{2, 2});
  CHECK(worker_range({5, 2}, 1, 0) == WorkerRange{1, 1});
}

TEST_CASE("worker_room: the smaller of the type's and the cluster's room") {
  CHECK(worker_room({0, 10}, 20, 3, 5) == 7);    // type: 10 - 3, cluster: 20 - 5
  CHECK(worker_room({0, 10}, 8, 3, 5) == 3);     // cluster: 8 - 5
  CHECK(worker_room({0, 10}, 8, 10, 12) == 0);   // both full
  CHECK(worker_room({0, 2}, 100, 5, 5) == 0);    // above the type's max: 0, not negative
  CHECK(worker_room({0, 10}, 4, 1, 6) == 0);     // above the cluster's max: 0
}

TEST_CASE("broken_worker_bound: type max, then type min, then cluster max") {
  CHECK(broken_worker_bound({1, 4}, 10, 2, 3) == WorkerBound::none);
  CHECK(broken_worker_bound({1, 4}, 10, 2, 5) == WorkerBound::type_max);
  CHECK(broken_worker_bound({1, 4}, 10, 2, 0) == WorkerBound::type_min);
  CHECK(broken_worker_bound({1, 4}, 4, 2, 3) == WorkerBound::cluster_max);
  CHECK(broken_worker_bound({1, 4}, 5, 2, 3) == WorkerBound::none);  // 2 + 3 == 5 is allowed
}

TEST_CASE("broken_worker_bound: min above max reports the max first") {
  CHECK(broken_worker_bound({5, 2}, 10, 0, 3) == WorkerBound::type_max);
  CHECK(broken_worker_bound({5, 2}, 10, 0, 2) == WorkerBound::type_min);
}

TEST_CASE("broken_worker_bound: a type max of 0") {
  CHECK(broken_worker_bound({0, 0}, 10, 0, 0) == WorkerBound::none);
  CHECK(broken_worker_bound({0, 0}, 10, 0, 1) == WorkerBound::type_max);
}

TEST_CASE("broken_worker_bound: without the other workers the cluster max is not checked") {
  CHECK(broken_worker_bound({0, 10}, 2, std::nullopt, 5) == WorkerBound::none);
  CHECK(broken_worker_bound({0, 10}, 2, 0, 5) == WorkerBound::cluster_max);
}
