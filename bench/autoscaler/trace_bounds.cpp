// Lower bounds on worker node-hours (trace_bounds.hpp).
//
// Capacity. Let H_t be the node-time of worker type t (or, at one instant,
// the number of usable nodes of type t) and cap_t[r] what one node of type t
// offers of resource r. A task of shape s needs req_s[r] of every r and can
// only run on the types it fits, F(s). For every set U of types and every
// resource r, the tasks with F(s) inside U run on nodes of types in U, so
//     sum over t in U of cap_t[r] * H_t  >=  B[U][r] := sum over those tasks
//                                            of req_s[r] * (their load)
// where a task's load is its duration (node-time) or 1 (a task running at
// that instant). Every schedule satisfies all these rows at once, so
//     node-time >= LP(B) := min { sum_t H_t : H >= 0, every row above },
// and the node count at an instant is an integer >= LP, so >= ceil(LP).
// This is "per resource, combined": with one type and one resource it is
// work / capacity; it is NOT the sum of per-type or per-resource bounds
// (a GPU node's CPUs also hold CPU tasks: the row for U = {cpu, gpu}, r =
// CPU counts them), and NOT the sum of dominant shares (two tasks with
// different dominant resources can share one node). With node types cpu
// {CPU: 8} and gpu {CPU: 8, GPU: 1} it comes to
//     max(CPU work of all tasks / 8, GPU work, CPU work of GPU tasks / 8);
// with a gpu type of fewer CPUs than the cpu type it is larger than that
// max (the LP then charges the CPUs GPU nodes cannot offer to cpu nodes).
// Without sharing (Sharing::none) F(s) of a shape that asks for no GPU is
// cut to the types without GPUs that fit it, when there are any; the rows
// and the LP are the same.
// The LP is solved exactly by enumerating its vertices (few types and
// resources); when that would take too long, the best single row gives a
// smaller but still valid bound: sum_t H_t >= B[U][r] / max_{t in U} cap_t[r].
#include "trace_bounds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace tracesim {
namespace {

constexpr double kTol = 1e-6;

struct Row {
  unsigned subset = 0;  // the types U
  std::size_t res = 0;
  std::vector<double> a;  // cap_t[r] for t in U, else 0
};

class Model {
 public:
  Model(const Workload& w, Sharing sharing) {
    for (const Resources& s : w.shapes)
      for (const auto& [k, v] : s)
        if (std::find(names_.begin(), names_.end(), k) == names_.end()) names_.push_back(k);
    const std::size_t R = names_.size();
    const std::size_t gpu = static_cast<std::size_t>(std::find(names_.begin(), names_.end(), "GPU") - names_.begin());
    std::vector<bool> offers_gpu;
    for (const NodeTypeSpec& t : w.cluster.node_types) {
      if (t.max_workers <= 0) continue;
      auto g = t.resources.find("GPU");
      offers_gpu.push_back(g != t.resources.end() && g->second > 0);
      std::vector<double> cap(R, 0);
      for (std::size_t r = 0; r < R; ++r)
        if (auto it = t.resources.find(names_[r]); it != t.resources.end()) cap[r] = it->second;
      cap_.push_back(std::move(cap));
      cost_.push_back(t.cost_per_hour);
    }
    for (const Resources& s : w.shapes) {
      std::vector<double> req(R, 0);
      for (std::size_t r = 0; r < R; ++r)
        if (auto it = s.find(names_[r]); it != s.end()) req[r] = it->second;
      unsigned mask = 0, no_gpu = 0;
      for (std::size_t t = 0; t < cap_.size(); ++t) {
        bool fits = true;
        for (std::size_t r = 0; r < R; ++r) fits = fits && req[r] <= cap_[t][r] + 1e-12;
        if (fits) mask |= 1u << t;
        if (fits && !offers_gpu[t]) no_gpu |= 1u << t;
      }
      // Without sharing, a shape that asks for no GPU runs only on types
      // without GPUs when one fits it (Ray's scheduler_avoid_gpu_nodes).
      const bool asks_gpu = gpu < R && req[gpu] > 0;
      if (sharing == Sharing::none && !asks_gpu && no_gpu != 0) mask = no_gpu;
      req_.push_back(std::move(req));
      mask_.push_back(mask);
    }
    const std::size_t T = cap_.size();
    for (unsigned u = 1; u < (1u << T); ++u)
      for (std::size_t r = 0; r < R; ++r) {
        Row row{u, r, std::vector<double>(T, 0)};
        for (std::size_t t = 0; t < T; ++t)
          if (u & (1u << t)) row.a[t] = cap_[t][r];
        rows_.push_back(std::move(row));
      }
    startup_ = static_cast<double>(w.cluster.startup_ms());
  }

  std::size_t shapes() const { return req_.size(); }
  double startup() const { return startup_; }

  // LP(B) for the load per shape; `by_cost`: cost_per_hour as the objective.
  double lp(const std::vector<double>& load, bool by_cost) const {
    const std::size_t T = cap_.size();
    std::vector<double> c(T, 1.0);
    if (by_cost) c = cost_;
    std::vector<std::pair<const Row*, double>> active;
    for (const Row& row : rows_) {
      double b = 0;
      for (std::size_t s = 0; s < req_.size(); ++s)
        if (mask_[s] != 0 && (mask_[s] & ~row.subset) == 0) b += load[s] * req_[s][row.res];
      if (b > 0) active.emplace_back(&row, b);
    }
    if (active.empty()) return 0;
    double best_row = 0;  // the best single row: always valid
    for (const auto& [row, b] : active) {
      double per = std::numeric_limits<double>::infinity();
      for (std::size_t t = 0; t < T; ++t)
        if (row->a[t] > 0) per = std::min(per, c[t] / row->a[t]);
      if (std::isfinite(per)) best_row = std::max(best_row, b * per);
    }
    return std::max(best_row, vertices(active, c));
  }

 private:
  // Exact LP by vertex enumeration; 0 when too large to enumerate.
  double vertices(const std::vector<std::pair<const Row*, double>>& active, const std::vector<double>& c) const {
    const std::size_t T = cap_.size(), m = active.size() + T;
    double combos = 1;
    for (std::size_t k = 0; k < T; ++k) combos = combos * static_cast<double>(m - k) / static_cast<double>(k + 1);
    if (T == 0 || combos > 4000) return 0;
    // Constraint i < active.size(): row; else H_{i - active.size()} >= 0.
    auto coef = [&](std::size_t i, std::size_t t) {
      return i < active.size() ? active[i].first->a[t] : (i - active.size() == t ? 1.0 : 0.0);
    };
    auto rhs = [&](std::size_t i) { return i < active.size() ? active[i].second : 0.0; };
    double best = std::numeric_limits<double>::infinity();
    std::vector<std::size_t> pick(T);
    for (std::size_t k = 0; k < T; ++k) pick[k] = k;
    while (true) {
      std::vector<double> h;
      if (solve(pick, coef, rhs, h) && feasible(active, h)) {
        double obj = 0;
        for (std::size_t t = 0; t < T; ++t) obj += c[t] * h[t];
        best = std::min(best, obj);
      }
      std::size_t k = T;
      while (k > 0 && pick[k - 1] == m - T + k - 1) --k;
      if (k == 0) break;
      ++pick[k - 1];
      for (std::size_t j = k; j < T; ++j) pick[j] = pick[j - 1] + 1;
    }
    return std::isfinite(best) ? best : 0;
  }

  template <class Coef, class Rhs>
  static bool solve(const std::vector<std::size_t>& pick, Coef coef, Rhs rhs, std::vector<double>& h) {
    const std::size_t T = pick.size();
    std::vector<std::vector<double>> a(T, std::vector<double>(T + 1));
    for (std::size_t i = 0; i < T; ++i) {
      for (std::size_t t = 0; t < T; ++t) a[i][t] = coef(pick[i], t);
      a[i][T] = rhs(pick[i]);
    }
    for (std::size_t col = 0; col < T; ++col) {
      std::size_t p = col;
      for (std::size_t i = col + 1; i < T; ++i)
        if (std::fabs(a[i][col]) > std::fabs(a[p][col])) p = i;
      if (std::fabs(a[p][col]) < 1e-12) return false;
      std::swap(a[p], a[col]);
      for (std::size_t i = 0; i < T; ++i) {
        if (i == col) continue;
        const double f = a[i][col] / a[col][col];
        for (std::size_t j = col; j <= T; ++j) a[i][j] -= f * a[col][j];
      }
    }
    h.assign(T, 0);
    for (std::size_t t = 0; t < T; ++t) h[t] = a[t][T] / a[t][t];
    return true;
  }

  bool feasible(const std::vector<std::pair<const Row*, double>>& active, const std::vector<double>& h) const {
    double scale = 1;
    for (const auto& [row, b] : active) scale = std::max(scale, b);
    for (double v : h)
      if (v < -kTol * scale) return false;
    for (const auto& [row, b] : active) {
      double lhs = 0;
      for (std::size_t t = 0; t < h.size(); ++t) lhs += row->a[t] * h[t];
      if (lhs < b - kTol * std::max(1.0, b)) return false;
    }
    return true;
  }

  std::vector<std::string> names_;
  std::vector<std::vector<double>> cap_;
  std::vector<double> cost_;
  std::vector<std::vector<double>> req_;
  std::vector<unsigned> mask_;
  std::vector<Row> rows_;
  double startup_ = 0;
};

std::vector<double> work_by_shape(const Workload& w) {
  std::vector<double> load(w.shapes.size(), 0);
  for (const Task& t : w.tasks) load[static_cast<std::size_t>(t.shape)] += static_cast<double>(t.duration);
  return load;
}

// Levels: task j surely runs during [a_j + W, a_j + d_j), so at least
// N(t) = ceil(LP(tasks surely running at t)) nodes are usable at t. Level k
// of N pays its on-time, one startup before it first turns on, and
// min(gap, startup) for each gap (kept warm, or off and started again).
double level_bound(const Workload& w, const Model& m, ms_t max_wait) {
  const double startup = m.startup();
  std::vector<std::pair<ms_t, int>> ev;  // (time, +/-(shape + 1))
  for (const Task& t : w.tasks) {
    if (t.duration <= max_wait) continue;
    ev.emplace_back(t.arrival + max_wait, t.shape + 1);
    ev.emplace_back(t.arrival + t.duration, -(t.shape + 1));
  }
  std::sort(ev.begin(), ev.end());
  std::vector<double> running(m.shapes(), 0);
  double level = 0;
  int n = 0;
  ms_t prev = 0;
  std::vector<ms_t> last_off;  // per level (index k-1); -1: never on
  for (std::size_t i = 0; i < ev.size();) {
    const ms_t t = ev[i].first;
    level += static_cast<double>(n) * static_cast<double>(t - prev);
    for (; i < ev.size() && ev[i].first == t; ++i) {
      const int e = ev[i].second;
      running[static_cast<std::size_t>(std::abs(e) - 1)] += e > 0 ? 1 : -1;
    }
    const int k_now = std::max(0, static_cast<int>(std::ceil(m.lp(running, false) - kTol)));
    if (static_cast<int>(last_off.size()) < k_now) last_off.resize(static_cast<std::size_t>(k_now), -1);
    for (int k = n + 1; k <= k_now; ++k) {
      const ms_t off = last_off[static_cast<std::size_t>(k - 1)];
      level += off < 0 ? startup : std::min(static_cast<double>(t - off), startup);
    }
    for (int k = k_now + 1; k <= n; ++k) last_off[static_cast<std::size_t>(k - 1)] = t;
    n = k_now;
    prev = t;
  }
  return level;
}

// Windows: the union of the intervals [a_j, a_j + W + d_j] splits into
// windows; window i holds work E_i = LP(its tasks' durations) that needs
// k_i >= E_i / L_i nodes usable in it, each of which pays min(gap before i,
// startup) beyond it.
double window_bound(const Workload& w, const Model& m, ms_t max_wait) {
  const double startup = m.startup();
  double total = 0;
  ms_t start = -1, end = -1, prev_end = -1;
  std::vector<double> work(m.shapes(), 0);
  auto close = [&]() {
    if (start < 0) return;
    const double e = m.lp(work, false);
    const double len = static_cast<double>(end - start);
    const double k = std::max(1.0, std::ceil(e / len - kTol));
    const double gap = prev_end < 0 ? startup : std::min(static_cast<double>(start - prev_end), startup);
    total += e + k * gap;
    prev_end = end;
  };
  for (const Task& t : w.tasks) {
    const ms_t a = t.arrival, b = t.arrival + max_wait + t.duration;
    if (start < 0 || a > end) {
      close();
      start = a, end = b;
      std::fill(work.begin(), work.end(), 0.0);
    }
    end = std::max(end, b);
    work[static_cast<std::size_t>(t.shape)] += static_cast<double>(t.duration);
  }
  close();
  return total;
}

}  // namespace

double work_bound_hours(const Workload& w, Sharing sharing) {
  const Model m(w, sharing);
  return m.lp(work_by_shape(w), false) / static_cast<double>(kHour);
}

double work_bound_cost(const Workload& w) {
  const Model m(w, Sharing::any);
  return m.lp(work_by_shape(w), true) / static_cast<double>(kHour);
}

double service_bound_hours(const Workload& w, ms_t max_wait, Sharing sharing) {
  const Model m(w, sharing);
  return std::max(level_bound(w, m, max_wait), window_bound(w, m, max_wait)) / static_cast<double>(kHour);
}

}  // namespace tracesim
