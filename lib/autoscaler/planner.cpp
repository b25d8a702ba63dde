// The autoscaling planner; the contract is in include/raycluster/autoscaler.hpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>

#include "autoscaler/autoscaler.hpp"
#include "autoscaler/bounds.hpp"
#include "autoscaler/packing.hpp"
#include "util/error.hpp"

namespace raycluster {
namespace {

using detail::first_fit;
using detail::fit_count;
using detail::Interner;
using detail::Req;
using detail::Rows;
using detail::Shape;
using detail::Shapes;
using detail::take;
using detail::type_worker_range;
using detail::worker_range;
using detail::worker_room;
using detail::WorkerLimits;
using detail::WorkerRange;

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::invalid_argument, "planner: " + what);
}

struct TypeInfo {
  std::string name;
  std::vector<double> cap;
  std::vector<Req> nz;  // nonzero capacity, in resource-name order (Ray iterates these)
  int min_workers = 0;
  int max_workers = 0;
  double idle_timeout_min = 0;
  double startup_ms = -1;  // < 0: unknown
  std::optional<double> cost;
  bool cooling = false;

  WorkerLimits limits() const { return {min_workers, max_workers}; }
};

// Ray's utilisation score, compared lexicographically.
struct Score {
  bool gpu_ok = true;
  int matching = 0;
  double min_u = 0;
  double mean_u = 0;
};

bool operator>(const Score& a, const Score& b) {
  if (a.gpu_ok != b.gpu_ok) return a.gpu_ok;
  if (a.matching != b.matching) return a.matching > b.matching;
  if (a.min_u != b.min_u) return a.min_u > b.min_u;
  return a.mean_u > b.mean_u;
}
bool operator==(const Score& a, const Score& b) {
  return a.gpu_ok == b.gpu_ok && a.matching == b.matching && a.min_u == b.min_u &&
         a.mean_u == b.mean_u;
}

struct NodeInfo {
  int type = -1;
  bool has_row = false;
  bool running = false;  // "up-to-date": connected to Ray
};

struct Ctx {
  const PlannerInput& in;
  Interner names;
  Shapes shapes;
  int width = 0;
  int gpu = -1;
  std::vector<TypeInfo> types;
  int head_type = -1;
  std::vector<double> weight;  // per shape, for cost mode
  std::vector<NodeInfo> nodes;
  Rows avail;  // per node with has_row (indexed by node index)
  Rows total;

  // Demand vectors, counts per shape id.
  std::vector<std::int64_t> demand;    // tasks + PACK/SPREAD/STRICT_PACK groups
  std::vector<std::int64_t> pg;        // the placement-group part of `demand`
  std::vector<std::int64_t> requests;  // request_resources()
  std::vector<std::vector<int>> strict_spreads;

  // Duration-aware upscaling, per shape: the tasks a new slot is counted
  // for (1 = off), and the demand left after what existing nodes absorb.
  std::vector<double> per_slot;
  std::vector<std::int64_t> absorbed_demand;

  explicit Ctx(const PlannerInput& i) : in(i) {}

  std::size_t S() const { return shapes.size(); }
  std::size_t T() const { return types.size(); }
};

// ---- choosing node types for residual demand (Ray's get_nodes_for) -------

Score score_of(const Ctx& c, const TypeInfo& t, const std::vector<double>& remaining,
               const std::vector<std::uint8_t>& present, bool any_gpu, bool& valid) {
  Score s;
  int n = 0;
  double sum = 0;
  s.min_u = std::numeric_limits<double>::infinity();
  for (const Req& r : t.nz) {
    double v = r.amount;
    if (v < 1) continue;
    if (present[static_cast<std::size_t>(r.id)]) ++s.matching;
    double util = (v - remaining[static_cast<std::size_t>(r.id)]) / v;
    double u = v * util * util * util;
    s.min_u = std::min(s.min_u, u);
    sum += u;
    ++n;
  }
  valid = n > 0;
  if (!valid) return s;
  s.mean_u = sum / n;
  bool gpu_node = c.gpu >= 0 && t.cap[static_cast<std::size_t>(c.gpu)] > 0;
  s.gpu_ok = !(gpu_node && !any_gpu);
  return s;
}

// Whether one more node of `t` may be launched when `of_type` workers of it
// and `all_workers` in all are there or planned.
bool eligible(const Ctx& c, const TypeInfo& t, int of_type, int all_workers) {
  return !t.cooling && !t.nz.empty() &&
         worker_room(t.limits(), c.in.policy.max_workers, of_type, all_workers) > 0;
}

// Returns true when `a` beats `b` (a, b type indices with their scores / ratios).
bool better_choice(const Ctx& c, bool cost_mode, double ra, const Score& sa, int a, double rb,
                   const Score& sb, int b) {
  if (cost_mode && ra != rb) return ra < rb;
  if (!(sa == sb)) return sa > sb;
  return c.types[static_cast<std::size_t>(a)].name > c.types[static_cast<std::size_t>(b)].name;
}

// Packs `in` (per shape) first-fit onto nodes of the multiset `m`; returns the
// weight covered and leaves the residual in `out`.
double evaluate(const Ctx& c, const std::vector<std::int64_t>& in, const std::vector<int>& m,
                std::vector<std::int64_t>& out) {
  Rows rows{c.width, {}};
  for (std::size_t t = 0; t < c.T(); ++t)
    for (int k = 0; k < m[t]; ++k) rows.push(c.types[t].cap.data());
  out = in;
  first_fit(rows, c.shapes, out, nullptr);
  double covered = 0;
  for (std::size_t s = 0; s < c.S(); ++s)
    covered += static_cast<double>(in[s] - out[s]) * c.weight[s];
  return covered;
}

double cost_of(const Ctx& c, const std::vector<int>& m) {
  double sum = 0;
  for (std::size_t t = 0; t < c.T(); ++t)
    if (m[t]) sum += m[t] * c.types[t].cost.value_or(0);
  return sum;
}

// The improvement pass of cost mode. A move takes one launched node out,
// optionally puts one node of another type in, then drops nodes (dearest
// first) while the demand weight covered stays at the greedy's; the move is
// kept when the result is cheaper. Repeats until no move helps.
void improve(const Ctx& c, const std::vector<std::int64_t>& before, const std::vector<int>& counts,
             int workers, std::vector<int>& local, std::vector<std::int64_t>& residual) {
  std::vector<std::int64_t> res;
  const double bar = evaluate(c, before, local, res) - 1e-9;
  std::vector<std::size_t> by_cost(c.T());
  std::iota(by_cost.begin(), by_cost.end(), std::size_t{0});
  std::sort(by_cost.begin(), by_cost.end(), [&](std::size_t a, std::size_t b) {
    return c.types[a].cost.value_or(0) > c.types[b].cost.value_or(0);
  });
  auto shrink = [&](std::vector<int>& m) {
    for (bool dropped = true; dropped;) {
      dropped = false;
      for (std::size_t t : by_cost) {
        if (m[t] == 0) continue;
        --m[t];
        if (evaluate(c, before, m, res) >= bar) {
          dropped = true;
          break;
        }
        ++m[t];
      }
    }
  };
  bool changed = false;
  for (int round = 0; round < 64; ++round) {
    const double current = cost_of(c, local);
    std::vector<int> best;
    double best_cost = current;
    const int workers_after_removal = workers + std::accumulate(local.begin(), local.end(), 0) - 1;
    for (std::size_t t : by_cost) {
      if (local[t] == 0) continue;
      for (std::size_t u = 0; u <= c.T(); ++u) {  // u == T(): no replacement
        std::vector<int> m = local;
        --m[t];
        if (u < c.T()) {
          if (u == t || !c.types[u].cost ||
              !eligible(c, c.types[u], counts[u] + m[u], workers_after_removal))
            continue;
          ++m[u];
        }
        if (evaluate(c, before, m, res) < bar) continue;
        shrink(m);
        const double k = cost_of(c, m);
        if (k < best_cost - 1e-12) best = m, best_cost = k;
      }
    }
    if (best.empty()) break;
    local = best;
    changed = true;
  }
  if (changed) evaluate(c, before, local, residual);
}

// Adds nodes for the residual `counts` (updated in place) one node at a time,
// as Ray's get_nodes_for does, but repeats an identical choice in one step
// while the choice provably cannot change. `counts_by_type` are nodes
// already there or planned, `workers` all of them; `adds` (per type)
// receives the new nodes.
void nodes_for(const Ctx& c, std::vector<std::int64_t>& counts,
               const std::vector<int>& counts_by_type, int workers, std::vector<int>& adds) {
  const std::size_t T = c.T();
  std::vector<int> local(T, 0);
  std::vector<std::int64_t> before = counts;
  std::vector<int> active;
  for (int sid : c.shapes.order())
    if (counts[static_cast<std::size_t>(sid)] > 0) active.push_back(sid);
  std::vector<std::vector<std::int64_t>> fill(T);
  std::vector<double> rem(static_cast<std::size_t>(c.width));
  std::vector<std::uint8_t> present(static_cast<std::size_t>(c.width));
  std::vector<Score> scores(T);
  std::vector<double> ratio(T);
  std::vector<std::uint8_t> cand(T);
  int added = 0;
  bool used_cost = false;

  while (!active.empty()) {
    std::fill(present.begin(), present.end(), 0);
    for (int sid : active)
      for (const Req& r : c.shapes[static_cast<std::size_t>(sid)].reqs)
        present[static_cast<std::size_t>(r.id)] = 1;
    bool any_gpu = c.gpu >= 0 && present[static_cast<std::size_t>(c.gpu)];

    bool all_costed = true, any_cand = false;
    for (std::size_t t = 0; t < T; ++t) {
      cand[t] = 0;
      const TypeInfo& ti = c.types[t];
      if (!eligible(c, ti, counts_by_type[t] + local[t], workers + added)) continue;
      std::copy(ti.cap.begin(), ti.cap.end(), rem.begin());
      auto& f = fill[t];
      f.assign(active.size(), 0);
      bool any = false;
      double value = 0;
      for (std::size_t j = 0; j < active.size(); ++j) {
        const auto sid = static_cast<std::size_t>(active[j]);
        const Shape& s = c.shapes[sid];
        std::int64_t k = fit_count(rem.data(), s, counts[sid]);
        if (k == 0) continue;
        take(rem.data(), s, k);
        f[j] = k;
        any = true;
        value += static_cast<double>(k) * c.weight[sid];
      }
      if (!any) continue;
      bool valid = false;
      scores[t] = score_of(c, ti, rem, present, any_gpu, valid);
      if (!valid) continue;
      cand[t] = 1;
      any_cand = true;
      if (!ti.cost) all_costed = false;
      ratio[t] = ti.cost ? *ti.cost / value : 0;
    }
    if (!any_cand) break;  // nothing left fits any launchable type
    const bool cost_mode = all_costed;
    used_cost = used_cost || cost_mode;
    int best = -1;
    for (std::size_t t = 0; t < T; ++t) {
      if (!cand[t]) continue;
      const auto ti = static_cast<int>(t);
      if (best < 0 || better_choice(c, cost_mode, ratio[t], scores[t], ti,
                                    ratio[static_cast<std::size_t>(best)],
                                    scores[static_cast<std::size_t>(best)], best))
        best = ti;
    }
    const auto b = static_cast<std::size_t>(best);

    // How many times the same node (type and fill) would be chosen in a row:
    // while every shape B consumes keeps at least what any candidate fits of
    // it, all fills, scores and the set of pending shapes stay the same.
    std::int64_t m = worker_room(c.types[b].limits(), c.in.policy.max_workers,
                                 counts_by_type[b] + local[b], workers + added);
    for (std::size_t j = 0; j < active.size() && m > 1; ++j) {
      const std::int64_t tb = fill[b][j];
      if (tb == 0) continue;
      const std::int64_t have = counts[static_cast<std::size_t>(active[j])];
      std::int64_t need = 1;
      for (std::size_t t = 0; t < T; ++t) {
        if (!cand[t]) continue;
        if (fill[t][j] == have) need = have + 1;  // count-limited: changes next time
        need = std::max(need, fill[t][j]);
      }
      std::int64_t reps = have >= need ? (have - need) / tb + 1 : 1;
      m = std::min(m, reps);
    }
    m = std::max<std::int64_t>(m, 1);

    local[b] += static_cast<int>(m);
    added += static_cast<int>(m);
    bool emptied = false;
    for (std::size_t j = 0; j < active.size(); ++j) {
      auto& cnt = counts[static_cast<std::size_t>(active[j])];
      cnt -= m * fill[b][j];
      if (cnt <= 0) emptied = true;
    }
    if (emptied)
      active.erase(std::remove_if(active.begin(), active.end(),
                                  [&](int sid) { return counts[static_cast<std::size_t>(sid)] <= 0; }),
                   active.end());
  }
  if (used_cost && added > 0 && added <= 256) improve(c, before, counts_by_type, workers, local, counts);
  for (std::size_t t = 0; t < T; ++t) adds[t] += local[t];
}

// Strict spread: one new node per bundle (Ray scores each bundle alone).
std::vector<int> nodes_for_spread(const Ctx& c, const std::vector<int>& bundles,
                                  const std::vector<int>& counts_by_type, int workers) {
  std::vector<int> chosen;
  std::vector<int> local(c.T(), 0);
  std::vector<double> rem(static_cast<std::size_t>(c.width));
  std::vector<std::uint8_t> present(static_cast<std::size_t>(c.width));
  for (int sid : bundles) {
    const Shape& s = c.shapes[static_cast<std::size_t>(sid)];
    std::fill(present.begin(), present.end(), 0);
    for (const Req& r : s.reqs) present[static_cast<std::size_t>(r.id)] = 1;
    bool any_gpu = c.gpu >= 0 && present[static_cast<std::size_t>(c.gpu)];
    int best = -1;
    Score best_score;
    double best_ratio = 0;
    bool all_costed = true;
    std::vector<std::pair<int, Score>> cands;
    for (std::size_t t = 0; t < c.T(); ++t) {
      const TypeInfo& ti = c.types[t];
      if (!eligible(c, ti, counts_by_type[t] + local[t], workers + static_cast<int>(chosen.size())))
        continue;
      if (fit_count(ti.cap.data(), s, 1) == 0) continue;
      std::copy(ti.cap.begin(), ti.cap.end(), rem.begin());
      take(rem.data(), s, 1);
      bool valid = false;
      Score sc = score_of(c, ti, rem, present, any_gpu, valid);
      if (!valid) continue;
      if (!ti.cost) all_costed = false;
      cands.emplace_back(static_cast<int>(t), sc);
    }
    for (const auto& [t, sc] : cands) {
      double r = c.types[static_cast<std::size_t>(t)].cost.value_or(0);
      if (best < 0 || better_choice(c, all_costed, r, sc, t, best_ratio, best_score, best))
        best = t, best_score = sc, best_ratio = r;
    }
    if (best < 0) break;
    ++local[static_cast<std::size_t>(best)];
    chosen.push_back(best);
  }
  return chosen;
}

// ---- one planning round over a fixed set of existing nodes ---------------

struct Round {
  std::vector<std::uint8_t> used;  // per existing row: demand was placed on it
  std::vector<int> min_add, rr_add, spread_add, pg_limit, demand_add;
  std::vector<int> running, pending;
  std::vector<std::int64_t> unfulfilled;
};

// The nodes a round packs onto, existing, in flight and planned: their rows
// of available and total resources (the existing nodes' first), and their
// workers per type and in all.
struct Pool {
  Rows rows, totals;
  std::vector<int> counts;
  int workers = 0;
  std::size_t existing_rows = 0;

  void add(const TypeInfo& t, std::size_t type, int n, bool to_totals) {
    for (int k = 0; k < n; ++k) {
      rows.push(t.cap.data());
      if (to_totals) totals.push(t.cap.data());
    }
    counts[type] += n, workers += n;
  }
};

// The pool of the `existing` nodes (those `counted` count towards their
// type) and the launches in flight; fills r.running and r.pending.
Pool pool_of(const Ctx& c, const std::vector<int>& existing, const std::vector<std::uint8_t>& counted,
             Round& r) {
  const PlannerInput& in = c.in;
  const std::size_t T = c.T();
  Pool p{Rows{c.width, {}}, Rows{c.width, {}}, std::vector<int>(T, 0)};
  for (std::size_t k = 0; k < existing.size(); ++k) {
    const auto i = static_cast<std::size_t>(existing[k]);
    const NodeInfo& n = c.nodes[i];
    p.rows.push(c.avail.row(i));
    p.totals.push(c.total.row(i));
    if (n.type >= 0 && counted[k]) {
      const auto t = static_cast<std::size_t>(n.type);
      (n.running ? r.running : r.pending)[t]++;
      if (in.nodes[i].kind == NodeKind::worker) ++p.counts[t], ++p.workers;
    }
  }
  p.existing_rows = p.rows.count();
  for (std::size_t t = 0; t < T; ++t) {
    auto it = in.launching.find(c.types[t].name);
    if (it == in.launching.end()) continue;
    for (int k = 0; k < it->second; ++k) p.rows.push(c.types[t].cap.data()), p.totals.push(c.types[t].cap.data());
    p.counts[t] += it->second, r.pending[t] += it->second, p.workers += it->second;
  }
  return p;
}

// min_workers (bounded by the cluster max, unlike Ray).
void add_min_workers(const Ctx& c, Pool& p, Round& r) {
  for (std::size_t t = 0; t < c.T(); ++t) {
    const TypeInfo& ti = c.types[t];
    if (ti.cooling) continue;
    const WorkerRange range = worker_range(ti.limits(), c.in.policy.max_workers, p.workers - p.counts[t]);
    const int n = range.min - p.counts[t];
    if (n <= 0) continue;
    r.min_add[t] = n;
    p.add(ti, t, n, true);
  }
}

// request_resources(): against total capacity.
void add_for_requests(const Ctx& c, Pool& p, Round& r) {
  if (std::none_of(c.requests.begin(), c.requests.end(), [](std::int64_t v) { return v > 0; })) return;
  std::vector<std::int64_t> rr = c.requests;
  first_fit(p.totals, c.shapes, rr, nullptr);
  nodes_for(c, rr, p.counts, p.workers, r.rr_add);
  for (std::size_t t = 0; t < c.T(); ++t)
    if (r.rr_add[t]) p.add(c.types[t], t, r.rr_add[t], false);
}

// One STRICT_SPREAD group: all bundles on distinct nodes, or none planned.
// False when the group cannot be placed; the pool is then as before.
bool place_strict_spread(const Ctx& c, const std::vector<int>& group, Pool& p,
                         std::vector<std::uint8_t>& used, Round& r) {
  Rows& rows = p.rows;
  std::vector<int> bundles = group;
  std::vector<int> rank(c.S());
  for (std::size_t k = 0; k < c.shapes.order().size(); ++k)
    rank[static_cast<std::size_t>(c.shapes.order()[k])] = static_cast<int>(k);
  std::stable_sort(bundles.begin(), bundles.end(), [&](int a, int b) {
    return rank[static_cast<std::size_t>(a)] < rank[static_cast<std::size_t>(b)];
  });
  std::vector<std::uint8_t> taken(rows.count(), 0);
  std::vector<std::pair<std::size_t, int>> placed;
  std::vector<int> left;
  for (int sid : bundles) {
    const Shape& s = c.shapes[static_cast<std::size_t>(sid)];
    bool ok = false;
    for (std::size_t i = 0; i < rows.count(); ++i) {
      if (taken[i] || fit_count(rows.row(i), s, 1) == 0) continue;
      take(rows.row(i), s, 1);
      taken[i] = 1;
      placed.emplace_back(i, sid);
      ok = true;
      break;
    }
    if (!ok) left.push_back(sid);
  }
  std::vector<int> chosen;
  bool fail = false;
  Rows fresh{c.width, {}};
  if (!left.empty()) {
    chosen = nodes_for_spread(c, left, p.counts, p.workers);
    for (int t : chosen) fresh.push(c.types[static_cast<std::size_t>(t)].cap.data());
    std::vector<std::uint8_t> ftaken(fresh.count(), 0);
    for (int sid : left) {
      const Shape& s = c.shapes[static_cast<std::size_t>(sid)];
      bool ok = false;
      for (std::size_t i = 0; i < fresh.count() && !ok; ++i) {
        if (ftaken[i] || fit_count(fresh.row(i), s, 1) == 0) continue;
        take(fresh.row(i), s, 1);
        ftaken[i] = 1;
        ok = true;
      }
      if (!ok) fail = true;
    }
  }
  if (fail) {
    for (const auto& [i, sid] : placed) {
      double* row = rows.row(i);
      for (const Req& q : c.shapes[static_cast<std::size_t>(sid)].reqs)
        row[static_cast<std::size_t>(q.id)] += q.amount;
    }
    return false;
  }
  for (const auto& pr : placed) used[pr.first] = 1;
  for (int t : chosen) {
    r.spread_add[static_cast<std::size_t>(t)]++;
    p.counts[static_cast<std::size_t>(t)]++, p.workers++;
  }
  for (std::size_t i = 0; i < fresh.count(); ++i) rows.push(fresh.row(i));
  used.resize(rows.count(), 0);
  return true;
}

// Pending demand: first fit onto the pool, new nodes for the residual.
// Returns what is left without a place.
std::vector<std::int64_t> add_for_demand(const Ctx& c, Pool& p, std::vector<std::uint8_t>& used,
                                         const std::vector<std::int64_t>& demand, bool per_slot,
                                         Round& r) {
  // Nodes the placement groups alone need: exempt from the upscaling cap.
  if (std::any_of(c.pg.begin(), c.pg.end(), [](std::int64_t v) { return v > 0; })) {
    Rows copy = p.rows;
    std::vector<std::int64_t> pg = c.pg;
    first_fit(copy, c.shapes, pg, nullptr);
    nodes_for(c, pg, p.counts, p.workers, r.pg_limit);
  }

  std::vector<std::int64_t> dc = demand;
  first_fit(p.rows, c.shapes, dc, &used);
  if (per_slot) {
    // Each new slot takes per_slot[s] of the residual tasks in turn (a
    // real number: a slot is launched for at least that much work).
    const std::vector<std::int64_t> full = dc;
    std::vector<std::int64_t> units = dc;
    auto slots = [](std::int64_t n, double per) {
      return static_cast<std::int64_t>(std::ceil(static_cast<double>(n) / per - 1e-9));
    };
    for (std::size_t s = 0; s < c.S(); ++s)
      if (c.per_slot[s] > 1) units[s] = dc[s] = slots(dc[s], c.per_slot[s]);
    nodes_for(c, dc, p.counts, p.workers, r.demand_add);
    for (std::size_t s = 0; s < c.S(); ++s)
      if (c.per_slot[s] > 1)
        dc[s] = dc[s] >= units[s] ? full[s]
                                  : std::min(full[s], static_cast<std::int64_t>(std::ceil(
                                                          static_cast<double>(dc[s]) * c.per_slot[s] - 1e-9)));
  } else {
    nodes_for(c, dc, p.counts, p.workers, r.demand_add);
  }
  return dc;
}

Round run_round(const Ctx& c, const std::vector<int>& existing, const std::vector<std::uint8_t>& counted,
                const std::vector<std::int64_t>& demand, bool per_slot) {
  const std::size_t T = c.T();
  Round r;
  r.min_add.assign(T, 0), r.rr_add.assign(T, 0), r.spread_add.assign(T, 0);
  r.pg_limit.assign(T, 0), r.demand_add.assign(T, 0);
  r.running.assign(T, 0), r.pending.assign(T, 0);
  Pool p = pool_of(c, existing, counted, r);
  add_min_workers(c, p, r);
  add_for_requests(c, p, r);

  std::vector<std::uint8_t> used(p.rows.count(), 0);
  std::vector<std::int64_t> spread_unfulfilled(c.S(), 0);
  for (const auto& group : c.strict_spreads)
    if (!place_strict_spread(c, group, p, used, r))
      for (int sid : group) spread_unfulfilled[static_cast<std::size_t>(sid)]++;

  std::vector<std::int64_t> dc = add_for_demand(c, p, used, demand, per_slot, r);
  for (std::size_t s = 0; s < c.S(); ++s) dc[s] += spread_unfulfilled[s];
  r.unfulfilled = std::move(dc);
  used.resize(p.existing_rows);
  r.used = std::move(used);
  return r;
}

// Sets up duration-aware upscaling (PlannerPolicy::launch_payback) over the
// kept nodes `kept`: c.per_slot and c.absorbed_demand. False when it applies
// to no shape. A node absorbs follow-on tasks of one shape only (the first
// in packing order that it fits), so shapes never share a node's time.
bool duration_rules(Ctx& c, const std::vector<int>& kept) {
  const PlannerInput& in = c.in;
  const double payback = std::min(in.policy.launch_payback, 1e6);  // keeps the casts below finite
  std::map<ResourceMap, double> estimate;
  for (const auto& e : in.task_durations) {
    if (e.mean.count() < 0) bad("negative task duration estimate");
    if (!e.shape.empty() && e.mean.count() > 0) estimate[e.shape] = static_cast<double>(e.mean.count());
  }
  std::map<ResourceMap, double> waited;
  for (const auto& q : in.queue_waits) {
    if (q.oldest.count() < 0) bad("negative queue wait");
    waited[q.shape] = static_cast<double>(q.oldest.count());
  }
  const std::size_t S = c.S();
  c.per_slot.assign(S, 1.0);
  c.absorbed_demand = c.demand;
  std::vector<double> startup(S, -1), dur(S, 0);
  std::vector<std::uint8_t> guarded(S, 0);
  bool any = false;
  for (std::size_t s = 0; s < S; ++s) {
    if (c.demand[s] <= 0 || c.pg[s] > 0) continue;  // placement groups: as before
    auto it = estimate.find(c.shapes[s].map);
    if (it == estimate.end()) continue;
    double t = std::numeric_limits<double>::infinity();
    bool known = true;
    for (std::size_t k = 0; k < c.T() && known; ++k) {
      const TypeInfo& ti = c.types[k];
      if (ti.max_workers <= 0 || fit_count(ti.cap.data(), c.shapes[s], 1) == 0) continue;
      if (ti.startup_ms < 0) known = false;
      else t = std::min(t, ti.startup_ms);
    }
    if (!known || !std::isfinite(t)) continue;
    // The wait guard (PlannerPolicy::payback_wait_startups): running nodes
    // get no follow-on credit for a shape of tasks at least g x T long whose
    // oldest queued task has waited g x T already.
    const double g = in.policy.payback_wait_startups * t;
    if (auto w = waited.find(c.shapes[s].map); g > 0 && w != waited.end() && w->second >= g && it->second >= g)
      guarded[s] = 1;
    startup[s] = t, dur[s] = it->second;
    c.per_slot[s] = std::clamp(payback * t / it->second, 1.0, 1e15);
    any = true;
  }
  if (!any) return false;

  constexpr std::int64_t kMany = std::int64_t{1} << 40;
  std::vector<std::uint8_t> taken(c.nodes.size(), 0);
  std::vector<int> inflight(c.T(), 0);
  for (std::size_t t = 0; t < c.T(); ++t)
    if (auto it = in.launching.find(c.types[t].name); it != in.launching.end()) inflight[t] = it->second;
  // The tasks one slot usable `ready_in` from now starts over the horizon
  // beyond the one first fit places: (horizon - ready_in) / d. A free slot
  // starts them back to back; a busy one as its tasks end, and as the task
  // running now started at an unknown time, it ends on average as a
  // stationary renewal process does: H / d ends over H. One task per slot is
  // held back as a margin for the spread of run times (hence - 1).
  auto credit = [](double span, double d) { return std::max(0.0, span / d - 1); };
  for (int sid : c.shapes.order()) {
    const auto s = static_cast<std::size_t>(sid);
    if (startup[s] < 0) continue;
    const Shape& shape = c.shapes[s];
    const double d = dur[s];
    const double horizon = startup[s] * (1 + payback);
    std::int64_t left = c.demand[s];
    for (int i : kept) {
      if (left <= 0) break;
      const auto ui = static_cast<std::size_t>(i);
      const NodeInfo& n = c.nodes[ui];
      if (taken[ui] || !n.has_row || (n.running && guarded[s])) continue;
      double ready_in = 0;
      if (!n.running) {
        const double ts = n.type >= 0 && c.types[static_cast<std::size_t>(n.type)].startup_ms >= 0
                              ? c.types[static_cast<std::size_t>(n.type)].startup_ms
                              : startup[s];
        const auto& age = in.nodes[ui].age;
        ready_in = age ? std::max(0.0, ts - static_cast<double>(age->count())) : ts;
      }
      const std::int64_t total = fit_count(c.total.row(ui), shape, kMany);
      if (total == 0) continue;
      const double a = static_cast<double>(total) * credit(horizon - ready_in, d);
      if (a < 1) continue;
      taken[ui] = 1;
      left -= std::min(left, static_cast<std::int64_t>(std::min(a, 1e15)));
    }
    for (std::size_t t = 0; t < c.T() && left > 0; ++t) {
      if (inflight[t] == 0) continue;
      const TypeInfo& ti = c.types[t];
      const std::int64_t slots = fit_count(ti.cap.data(), shape, kMany);
      const double ready_in = ti.startup_ms >= 0 ? ti.startup_ms : startup[s];
      const double per = static_cast<double>(slots) * credit(horizon - ready_in, d);
      if (per < 1) continue;
      const auto a = static_cast<std::int64_t>(std::min(per * inflight[t], 1e15));
      inflight[t] = 0;
      left -= std::min(left, a);
    }
    c.absorbed_demand[s] = left;
  }
  return true;
}

std::vector<ResourceDemand> to_demands(const Ctx& c, const std::vector<std::int64_t>& counts) {
  std::vector<ResourceDemand> out;
  for (std::size_t s = 0; s < c.S(); ++s)
    if (counts[s] > 0) out.push_back({c.shapes[s].map, counts[s]});
  std::sort(out.begin(), out.end(),
            [](const ResourceDemand& a, const ResourceDemand& b) { return a.shape < b.shape; });
  return out;
}

// ---- reading the input ----------------------------------------------------

using TypeIndex = std::unordered_map<std::string_view, int>;

// Checks the policy, the node types and the launch counts, and interns every
// resource name first so rows have their final width.
TypeIndex check_and_intern(Ctx& c) {
  const PlannerInput& in = c.in;
  if (!(in.policy.upscaling_speed >= 0)) bad("upscaling_speed must be >= 0");
  if (in.policy.max_workers < 0) bad("max_workers must be >= 0");
  TypeIndex type_index;
  for (const auto& t : in.node_types) {
    if (!type_index.emplace(t.name, static_cast<int>(type_index.size())).second)
      bad("node type " + t.name + " appears twice");
    if (t.min_workers < 0 || t.max_workers < 0) bad("node type " + t.name + ": negative min/max_workers");
    for (const auto& [k, v] : t.resources) {
      if (!(v >= 0)) bad("node type " + t.name + ": negative resource " + k);
      c.names.intern(k);
    }
  }
  for (const auto& n : in.nodes) {
    if (n.total) for (const auto& e : *n.total) c.names.intern(e.first);
    if (n.available) for (const auto& e : *n.available) c.names.intern(e.first);
  }
  for (const auto& [t, n] : in.launching)
    if (n < 0) bad("negative launch count for " + t);
  return type_index;
}

void bump(std::vector<std::int64_t>& v, int sid, std::int64_t n) {
  if (v.size() <= static_cast<std::size_t>(sid)) v.resize(static_cast<std::size_t>(sid) + 1, 0);
  v[static_cast<std::size_t>(sid)] += n;
}

void add_placement_group(Ctx& c, const PlacementGroup& g) {
  if (g.bundles.empty()) return;
  switch (g.strategy) {
    case PlacementStrategy::pack:
    case PlacementStrategy::spread:
      for (const auto& b : g.bundles) {
        if (b.empty()) continue;
        int sid = c.shapes.add(b, c.names);
        bump(c.demand, sid, 1), bump(c.pg, sid, 1);
      }
      break;
    case PlacementStrategy::strict_pack: {
      ResourceMap sum;
      for (const auto& b : g.bundles)
        for (const auto& [k, v] : b) sum.set(k, sum.get(k) + v);
      if (sum.empty()) break;
      int sid = c.shapes.add(sum, c.names);
      bump(c.demand, sid, 1), bump(c.pg, sid, 1);
      break;
    }
    case PlacementStrategy::strict_spread: {
      std::vector<int> ids;
      for (const auto& b : g.bundles)
        if (!b.empty()) ids.push_back(c.shapes.add(b, c.names));
      if (!ids.empty()) c.strict_spreads.push_back(std::move(ids));
      break;
    }
  }
}

// Aggregates tasks, request_resources() and placement groups into counts
// per shape; fixes the shapes and the row width.
void collect_demand(Ctx& c) {
  const PlannerInput& in = c.in;
  c.demand.reserve(64);
  for (const auto& d : in.demands) {
    if (d.count < 0) bad("negative demand count");
    if (d.shape.empty() || d.count == 0) continue;
    bump(c.demand, c.shapes.add(d.shape, c.names), d.count);
  }
  for (const auto& d : in.resource_requests) {
    if (d.count < 0) bad("negative request count");
    if (d.shape.empty() || d.count == 0) continue;
    bump(c.requests, c.shapes.add(d.shape, c.names), d.count);
  }
  for (const auto& g : in.placement_groups) add_placement_group(c, g);
  c.shapes.finish();
  c.demand.resize(c.S(), 0), c.pg.resize(c.S(), 0), c.requests.resize(c.S(), 0);
  c.width = c.names.size();
  c.gpu = c.names.find("GPU");
}

void read_node_types(Ctx& c, const TypeIndex& type_index) {
  const PlannerInput& in = c.in;
  const auto W = static_cast<std::size_t>(c.width);
  for (const auto& t : in.node_types) {
    TypeInfo ti;
    ti.name = t.name;
    ti.cap.assign(W, 0);
    for (const auto& [k, v] : t.resources) {
      int id = c.names.find(k);
      ti.cap[static_cast<std::size_t>(id)] = v;
      if (v > 0) ti.nz.push_back({id, v});
    }
    ti.min_workers = t.min_workers;
    ti.max_workers = t.max_workers;
    ti.idle_timeout_min = t.idle_timeout_minutes.value_or(in.policy.idle_timeout_minutes);
    if (t.startup) {
      if (t.startup->count() < 0) bad("node type " + t.name + ": negative startup");
      ti.startup_ms = static_cast<double>(t.startup->count());
      if (in.policy.keep_idle_startups > 0)
        ti.idle_timeout_min = std::min(ti.idle_timeout_min, in.policy.keep_idle_startups * ti.startup_ms / 60000.0);
    }
    ti.cost = t.cost_per_hour;
    auto cd = in.cooldowns.find(t.name);
    ti.cooling = cd != in.cooldowns.end() && in.now < cd->second;
    c.types.push_back(std::move(ti));
  }
  if (auto it = type_index.find(in.head_node_type); it != type_index.end()) c.head_type = it->second;
}

// Each shape's weight for cost mode: its dominant share of the largest
// type's capacity.
void weigh_shapes(Ctx& c) {
  const auto W = static_cast<std::size_t>(c.width);
  std::vector<double> max_cap(W, 0);
  for (const auto& t : c.types)
    for (std::size_t k = 0; k < W; ++k) max_cap[k] = std::max(max_cap[k], t.cap[k]);
  c.weight.assign(c.S(), 1.0);
  for (std::size_t s = 0; s < c.S(); ++s) {
    double w = 0;
    for (const Req& q : c.shapes[s].reqs) {
      double m = max_cap[static_cast<std::size_t>(q.id)];
      w = std::max(w, m > 0 ? q.amount / m : 1.0);
    }
    c.weight[s] = w > 0 ? w : 1.0;
  }
}

// Nodes: type, running or not, and their rows.
void read_nodes(Ctx& c, const TypeIndex& type_index) {
  const PlannerInput& in = c.in;
  const auto W = static_cast<std::size_t>(c.width);
  const std::size_t N = in.nodes.size();
  c.nodes.resize(N);
  c.avail = Rows{c.width, std::vector<double>(N * W, 0)};
  c.total = Rows{c.width, std::vector<double>(N * W, 0)};
  for (std::size_t i = 0; i < N; ++i) {
    const PlannerNode& n = in.nodes[i];
    NodeInfo& ni = c.nodes[i];
    auto it = type_index.find(n.node_type);
    ni.type = it == type_index.end() ? -1 : it->second;
    ni.running = n.status == status::up_to_date;
    const std::vector<double>* tcap = ni.type >= 0 ? &c.types[static_cast<std::size_t>(ni.type)].cap : nullptr;
    auto fill = [&](double* row, const std::optional<ResourceMap>& m) {
      if (m) {
        for (const auto& [k, v] : *m) {
          if (!(v >= 0)) bad("node " + n.id + ": negative resource " + k);
          row[static_cast<std::size_t>(c.names.find(k))] = v;
        }
        return true;
      }
      if (tcap) std::copy(tcap->begin(), tcap->end(), row);
      return tcap != nullptr;
    };
    bool has_total = fill(c.total.row(i), n.total);
    bool has_avail = n.available ? fill(c.avail.row(i), n.available)
                                 : (std::copy(c.total.row(i), c.total.row(i) + W, c.avail.row(i)), has_total);
    ni.has_row = has_total || has_avail;
  }
}

// ---- terminations (Ray's terminate_nodes_to_enforce_config_constraints) --

enum State : std::uint8_t { keep, candidate, gone };

// What becomes of each node: kept, an idle candidate that pending demand
// may still rescue, or gone (with why).
struct Fates {
  std::vector<State> state;
  std::vector<TerminationReason> why;
  std::vector<int> mru;  // workers, most recently used first; unconnected last
  int kept_workers = 0;

  void drop(int i, TerminationReason r) {
    state[static_cast<std::size_t>(i)] = gone, why[static_cast<std::size_t>(i)] = r;
  }
};

std::vector<int> workers_by_recent_use(const Ctx& c) {
  const PlannerInput& in = c.in;
  std::vector<int> mru;
  for (std::size_t i = 0; i < in.nodes.size(); ++i)
    if (in.nodes[i].kind == NodeKind::worker) mru.push_back(static_cast<int>(i));
  std::stable_sort(mru.begin(), mru.end(), [&](int a, int b) {
    const auto& na = c.nodes[static_cast<std::size_t>(a)];
    const auto& nb = c.nodes[static_cast<std::size_t>(b)];
    if (na.running != nb.running) return na.running;
    return in.nodes[static_cast<std::size_t>(a)].idle_for < in.nodes[static_cast<std::size_t>(b)].idle_for;
  });
  return mru;
}

// Workers request_resources() needs (packed against totals, head first).
std::vector<std::uint8_t> workers_for_requests(const Ctx& c, const std::vector<int>& mru) {
  const PlannerInput& in = c.in;
  const std::size_t N = in.nodes.size();
  std::vector<std::uint8_t> rr_needed(N, 0);
  if (std::none_of(c.requests.begin(), c.requests.end(), [](std::int64_t v) { return v > 0; }))
    return rr_needed;
  Rows rows{c.width, {}};
  std::vector<int> owner;
  for (std::size_t i = 0; i < N; ++i)
    if (in.nodes[i].kind == NodeKind::head && c.nodes[i].has_row) {
      rows.push(c.total.row(i)), owner.push_back(-1);
      break;
    }
  for (int i : mru)
    if (c.nodes[static_cast<std::size_t>(i)].type >= 0)
      rows.push(c.total.row(static_cast<std::size_t>(i))), owner.push_back(i);
  std::vector<std::int64_t> rr = c.requests;
  std::vector<std::uint8_t> used(rows.count(), 0);
  first_fit(rows, c.shapes, rr, &used);
  for (std::size_t k = 0; k < owner.size(); ++k)
    if (used[k] && owner[k] >= 0) rr_needed[static_cast<std::size_t>(owner[k])] = 1;
  return rr_needed;
}

Fates enforce_config_constraints(const Ctx& c) {
  const PlannerInput& in = c.in;
  const std::size_t N = in.nodes.size();
  Fates f{std::vector<State>(N, keep), std::vector<TerminationReason>(N, TerminationReason::idle),
          workers_by_recent_use(c)};
  const std::vector<std::uint8_t> rr_needed = workers_for_requests(c, f.mru);

  std::vector<int> kept_of_type(c.T(), 0);
  std::vector<int> could_terminate;
  for (int i : f.mru) {
    const auto ui = static_cast<std::size_t>(i);
    const PlannerNode& n = in.nodes[ui];
    const int t = c.nodes[ui].type;
    if (t < 0) { f.drop(i, TerminationReason::type_removed); continue; }
    if (n.status == status::update_failed) { f.drop(i, TerminationReason::failed_setup); continue; }
    const TypeInfo& ti = c.types[static_cast<std::size_t>(t)];
    const auto ut = static_cast<std::size_t>(t);
    const WorkerRange own = type_worker_range(ti.limits());
    bool keep_for_min = kept_of_type[ut] < own.min;
    if (!keep_for_min && kept_of_type[ut] >= own.max) { f.drop(i, TerminationReason::above_max); continue; }
    if ((keep_for_min || rr_needed[ui]) && n.launch_config_ok) {
      kept_of_type[ut]++, f.kept_workers++;
      continue;
    }
    const bool idle = c.nodes[ui].running &&
                      static_cast<double>(n.idle_for.count()) > ti.idle_timeout_min * 60000.0;
    if (idle) {
      if (n.launch_config_ok) f.state[ui] = candidate;  // may be rescued by demand
      else f.drop(i, TerminationReason::idle);
    } else if (!n.launch_config_ok) {
      f.drop(i, TerminationReason::outdated);
    } else {
      kept_of_type[ut]++, f.kept_workers++;
      could_terminate.push_back(i);
    }
  }
  // Cluster max: least recently used of the unprotected go first.
  for (int extra = f.kept_workers - in.policy.max_workers;
       extra > 0 && !could_terminate.empty(); --extra) {
    f.drop(could_terminate.back(), TerminationReason::above_max);
    could_terminate.pop_back();
    --f.kept_workers;
  }
  return f;
}

// ---- launches: idle candidates stay in the pool, behind the kept nodes --

// Plans the launches over the kept nodes. An idle candidate that pending
// work would land on is kept while the cluster's max_workers has room, the
// other candidates go; then the round is planned again over what stays.
Round plan_launches(Ctx& c, Fates& f) {
  const PlannerInput& in = c.in;
  const std::size_t N = in.nodes.size();
  std::vector<int> existing;
  std::vector<std::uint8_t> counted;
  for (std::size_t i = 0; i < N; ++i)
    if (f.state[i] == keep && c.nodes[i].has_row) existing.push_back(static_cast<int>(i)), counted.push_back(1);
  for (int i : f.mru)
    if (f.state[static_cast<std::size_t>(i)] == candidate && c.nodes[static_cast<std::size_t>(i)].has_row)
      existing.push_back(i), counted.push_back(0);
  Round round = run_round(c, existing, counted, c.demand, false);

  bool rerun = false;
  int headroom = in.policy.max_workers - f.kept_workers;
  for (std::size_t k = 0; k < existing.size(); ++k) {
    if (counted[k]) continue;
    const int i = existing[k];
    if (round.used[k] && headroom > 0) {
      f.state[static_cast<std::size_t>(i)] = keep;  // no thrash: pending work would land here
      --headroom;
    } else {
      f.drop(i, TerminationReason::idle);
    }
    if (round.used[k]) rerun = true;
  }
  for (std::size_t i = 0; i < N; ++i)
    if (f.state[i] == candidate) f.drop(static_cast<int>(i), TerminationReason::idle);
  if (rerun) {
    // Same order as before (kept in input order, then the rescued), now counted.
    std::vector<int> ex2;
    std::vector<std::uint8_t> co2;
    for (std::size_t k = 0; k < existing.size(); ++k)
      if (f.state[static_cast<std::size_t>(existing[k])] == keep) ex2.push_back(existing[k]), co2.push_back(1);
    round = run_round(c, ex2, co2, c.demand, false);
  }
  if (in.policy.launch_payback > 0 && !in.task_durations.empty()) {
    std::vector<int> kept;
    for (int i : existing)
      if (f.state[static_cast<std::size_t>(i)] == keep) kept.push_back(i);
    if (duration_rules(c, kept)) {
      const std::vector<std::uint8_t> all_counted(kept.size(), 1);
      round = run_round(c, kept, all_counted, c.absorbed_demand, true);
    }
  }
  return round;
}

// ---- the upscaling_speed cap and the plan ----------------------------

std::vector<LaunchDecision> capped_launches(const Ctx& c, const Round& round) {
  std::vector<LaunchDecision> launches;
  for (std::size_t t = 0; t < c.T(); ++t) {
    const int pg_nodes = round.spread_add[t] + std::min(round.pg_limit[t], round.demand_add[t]);
    const int wanted = round.min_add[t] + round.rr_add[t] + round.spread_add[t] + round.demand_add[t];
    if (wanted <= 0) continue;
    const int running = round.running[t];
    const double scaled = std::min(c.in.policy.upscaling_speed * std::max(running, 1), 1e9);
    const int allowed = std::max(5, static_cast<int>(scaled));  // Ray: int() truncates
    const int upper = std::max(allowed - round.pending[t],
                               round.min_add[t] + round.rr_add[t] + round.spread_add[t] + round.pg_limit[t]);
    int n = upper > 0 ? std::min(upper, wanted) : 0;
    const std::pair<LaunchReason, int> parts[] = {
        {LaunchReason::min_workers, round.min_add[t]},
        {LaunchReason::request_resources, round.rr_add[t]},
        {LaunchReason::placement_group, pg_nodes},
        {LaunchReason::demand, wanted - round.min_add[t] - round.rr_add[t] - pg_nodes}};
    for (const auto& [reason, k] : parts) {
      int take_n = std::min(n, k);
      if (take_n > 0) launches.push_back({c.types[t].name, take_n, reason});
      n -= take_n;
    }
  }
  std::sort(launches.begin(), launches.end(), [](const LaunchDecision& a, const LaunchDecision& b) {
    return a.node_type != b.node_type ? a.node_type < b.node_type : a.reason < b.reason;
  });
  return launches;
}

// Infeasible: no type (head type, or max_workers > 0) fits the shape.
std::vector<std::int64_t> infeasible_demand(const Ctx& c) {
  std::vector<std::int64_t> all = c.demand;
  for (const auto& g : c.strict_spreads)
    for (int sid : g) all[static_cast<std::size_t>(sid)]++;
  std::vector<std::int64_t> infeasible(c.S(), 0);
  for (std::size_t s = 0; s < c.S(); ++s) {
    if (all[s] <= 0) continue;
    bool fits = false;
    for (std::size_t t = 0; t < c.T() && !fits; ++t)
      fits = (static_cast<int>(t) == c.head_type || c.types[t].max_workers > 0) &&
             fit_count(c.types[t].cap.data(), c.shapes[s], 1) == 1;
    if (!fits) infeasible[s] = all[s];
  }
  return infeasible;
}

}  // namespace

Plan plan(const PlannerInput& in) {
  Ctx c(in);
  const TypeIndex type_index = check_and_intern(c);
  collect_demand(c);
  read_node_types(c, type_index);
  weigh_shapes(c);
  read_nodes(c, type_index);

  Fates fates = enforce_config_constraints(c);
  const Round round = plan_launches(c, fates);

  Plan out;
  out.launches = capped_launches(c, round);
  for (std::size_t i = 0; i < in.nodes.size(); ++i)
    if (fates.state[i] == gone) out.terminations.push_back({in.nodes[i].id, in.nodes[i].node_type, fates.why[i]});
  out.infeasible = to_demands(c, infeasible_demand(c));
  out.unfulfilled = to_demands(c, round.unfulfilled);
  return out;
}

}  // namespace raycluster
