// trace-sim's built-in workloads (workloads.hpp).
#include "workloads.hpp"

#include <cmath>
#include <random>

namespace tracesim {
namespace {

ms_t to_ms(double seconds) { return static_cast<ms_t>(std::llround(seconds * 1000.0)); }

Workload named(const char* name) {
  Workload w;
  w.name = name;
  w.cluster = default_cluster();
  return w;
}

// Poisson arrivals of `rate` per second for `hours`; tasks of `shape`
// running uniformly min_s..max_s seconds.
void poisson(Workload& w, std::uint64_t seed, double rate, double hours, double min_s, double max_s,
             const Resources& shape) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  std::uniform_real_distribution<double> dur(min_s, max_s);
  for (double t = gap(rng); t < hours * 3600; t += gap(rng)) w.add(to_ms(t), to_ms(dur(rng)), shape);
}

// Clumps of tasks: one at first_s, first_s + period_s, ... before end_s,
// each of min_n..max_n tasks arriving uniformly within `within_s` of its
// start and running uniformly min_s..max_s seconds.
struct Clumps {
  double first_s, period_s, end_s;
  int min_n, max_n;
  double within_s, min_s, max_s;
};

void clumps(Workload& w, std::uint64_t seed, const Clumps& c, const Resources& shape) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> size(c.min_n, c.max_n);
  std::uniform_real_distribution<double> within(0, c.within_s);
  std::uniform_real_distribution<double> dur(c.min_s, c.max_s);
  for (double b = c.first_s; b < c.end_s; b += c.period_s) {
    const int n = size(rng);
    for (int i = 0; i < n; ++i) {
      const double at = b + within(rng);
      w.add(to_ms(at), to_ms(dur(rng)), shape);
    }
  }
}

}  // namespace

// Poisson arrivals, rate 0.5/s for 3 h; {CPU:1}, 30-300 s.
Workload steady() {
  Workload w = named("steady");
  poisson(w, 1001, 0.5, 3, 30, 300, {{"CPU", 1}});
  w.sort();
  return w;
}

// Every 20 min (after an idle gap) a burst of 400-1,500 short tasks within 10 s;
// {CPU:1}, 5-60 s. 3 h.
Workload bursty() {
  Workload w = named("bursty");
  clumps(w, 2002, {60, 20 * 60, 3 * 3600, 400, 1500, 10, 5, 60}, {{"CPU", 1}});
  w.sort();
  return w;
}

// Sinusoidal rate 0.25 * (1 + 0.9 sin(2 pi t / 2 h)) per s (thinning), 4 h;
// {CPU:2}, 60-600 s.
Workload diurnal() {
  Workload w = named("diurnal");
  std::mt19937_64 rng(3003);
  const double peak = 0.25 * 1.9;
  std::exponential_distribution<double> gap(peak);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_real_distribution<double> dur(60, 600);
  const double pi = std::acos(-1.0);
  for (double t = gap(rng); t < 4 * 3600; t += gap(rng)) {
    const double rate = 0.25 * (1 + 0.9 * std::sin(2 * pi * t / 7200.0));
    if (u(rng) * peak <= rate) w.add(to_ms(t), to_ms(dur(rng)), {{"CPU", 2}});
  }
  w.sort();
  return w;
}

// Many short tasks: Poisson 12/s for 2 h; {CPU:1}, 1-10 s.
Workload many_short() {
  Workload w = named("many_short");
  poisson(w, 4004, 12.0, 2, 1, 10, {{"CPU", 1}});
  w.sort();
  return w;
}

// Few long GPU tasks: 4 clumps (every 40 min) of 3-8 tasks {CPU:4, GPU:1},
// 30-60 min each.
Workload long_gpu() {
  Workload w = named("long_gpu");
  clumps(w, 5005, {60, 40 * 60, 60 + 4 * 40 * 60, 3, 8, 120, 30 * 60, 60 * 60}, {{"CPU", 4}, {"GPU", 1}});
  w.sort();
  return w;
}

// CPU and GPU work in one cluster, 3 h: a steady CPU background (Poisson
// 0.4/s, {CPU:1}, 30-300 s) and, every 30 min, a burst of 4-12 GPU tasks
// {CPU:2, GPU:1} within 60 s running 5-20 min each. A GPU node (8 CPUs, 1
// GPU) has 6 CPUs left beside its GPU task, which CPU tasks may use.
Workload mixed() {
  Workload w = named("mixed");
  poisson(w, 6006, 0.4, 3, 30, 300, {{"CPU", 1}});
  clumps(w, 6007, {300, 30 * 60, 3 * 3600, 4, 12, 60, 5 * 60, 20 * 60}, {{"CPU", 2}, {"GPU", 1}});
  w.sort();
  return w;
}

std::vector<Workload> builtin_workloads() {
  return {steady(), bursty(), diurnal(), many_short(), long_gpu(), mixed()};
}

}  // namespace tracesim
