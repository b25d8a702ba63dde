#include "autoscaler/packing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "util/error.hpp"

namespace raycluster::detail {

int Interner::intern(std::string_view name) {
  if (int id = find(name); id >= 0) return id;
  int id = static_cast<int>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

int Interner::find(std::string_view name) const {
  // Clusters use a handful of resource names: a scan beats hashing.
  if (names_.size() <= 16) {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == name) return static_cast<int>(i);
    return -1;
  }
  auto it = ids_.find(std::string(name));
  return it == ids_.end() ? -1 : it->second;
}

namespace {
std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}
std::uint64_t bits_of(double v) {
  std::uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}
}  // namespace

int Shapes::lookup(const std::vector<Req>& sig, std::uint64_t h) const {
  if (table_.empty()) return -1;
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
    const int id = table_[i];
    if (id < 0) return -1;
    const auto uid = static_cast<std::size_t>(id);
    if (hashes_[uid] != h) continue;
    const auto& other = shapes_[uid].sig;
    if (other.size() != sig.size()) continue;
    bool same = true;
    for (std::size_t k = 0; k < sig.size() && same; ++k)
      same = other[k].id == sig[k].id && other[k].amount == sig[k].amount;
    if (same) return id;
  }
}

void Shapes::grow() {
  std::vector<int> t(table_.empty() ? 64 : table_.size() * 2, -1);
  const std::size_t mask = t.size() - 1;
  for (std::size_t id = 0; id < shapes_.size(); ++id) {
    std::size_t i = static_cast<std::size_t>(hashes_[id]) & mask;
    while (t[i] >= 0) i = (i + 1) & mask;
    t[i] = static_cast<int>(id);
  }
  table_.swap(t);
}

int Shapes::add(const ResourceMap& m, Interner& names) {
  scratch_.clear();
  std::uint64_t h = 0x84222325cbf29ce4ull;
  for (const auto& [k, v] : m) {
    if (!(v >= 0) || !std::isfinite(v))
      throw Error(ErrorCode::invalid_argument, "planner: resource " + k + " has an invalid amount");
    const int id = names.intern(k);
    scratch_.push_back({id, v});
    h = mix(mix(h, static_cast<std::uint64_t>(id)), bits_of(v));
  }
  if (int id = lookup(scratch_, h); id >= 0) return id;
  Shape s;
  s.map = m;
  s.sig = scratch_;
  s.reqs = scratch_;
  std::sort(s.reqs.begin(), s.reqs.end(), [](const Req& a, const Req& b) { return a.id < b.id; });
  const int id = static_cast<int>(shapes_.size());
  shapes_.push_back(std::move(s));
  hashes_.push_back(h);
  if ((shapes_.size() + 1) * 2 > table_.size()) {
    grow();
  } else {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = static_cast<std::size_t>(h) & mask;
    while (table_[i] >= 0) i = (i + 1) & mask;
    table_[i] = id;
  }
  return id;
}

void Shapes::finish() {
  order_.resize(shapes_.size());
  std::vector<double> sums(shapes_.size());
  for (std::size_t i = 0; i < shapes_.size(); ++i) {
    order_[i] = static_cast<int>(i);
    double s = 0;
    for (const auto& [k, v] : shapes_[i].map) s += v;
    sums[i] = s;
  }
  // Ray sorts by (len, sum, sorted items) with reverse=True.
  std::sort(order_.begin(), order_.end(), [&](int a, int b) {
    const auto& ea = shapes_[static_cast<std::size_t>(a)].map.entries();
    const auto& eb = shapes_[static_cast<std::size_t>(b)].map.entries();
    if (ea.size() != eb.size()) return ea.size() > eb.size();
    double sa = sums[static_cast<std::size_t>(a)], sb = sums[static_cast<std::size_t>(b)];
    if (sa != sb) return sa > sb;
    return eb < ea;
  });
}

std::int64_t fit_count(const double* row, const Shape& s, std::int64_t limit) {
  if (limit <= 0) return 0;
  double kmax = static_cast<double>(limit);
  for (const Req& r : s.reqs) {
    double avail = row[r.id];
    if (r.amount > avail) return 0;
    double q = std::floor(avail / r.amount);
    if (q < kmax) kmax = q;
  }
  std::int64_t k = static_cast<std::int64_t>(kmax);
  // Division may round; settle k so that k copies fit and k + 1 do not.
  auto fits = [&](std::int64_t n) {
    for (const Req& r : s.reqs)
      if (static_cast<double>(n) * r.amount > row[r.id]) return false;
    return true;
  };
  while (k > 0 && !fits(k)) --k;
  while (k < limit && fits(k + 1)) ++k;
  return k;
}

void take(double* row, const Shape& s, std::int64_t k) {
  for (const Req& r : s.reqs) {
    double v = row[r.id] - static_cast<double>(k) * r.amount;
    row[r.id] = v < 0 ? 0 : v;
  }
}

void first_fit(Rows& rows, const Shapes& shapes, std::vector<std::int64_t>& counts,
               std::vector<std::uint8_t>* used) {
  const std::size_t n = rows.count();
  for (int sid : shapes.order()) {
    std::int64_t& left = counts[static_cast<std::size_t>(sid)];
    if (left <= 0) continue;
    const Shape& s = shapes[static_cast<std::size_t>(sid)];
    for (std::size_t i = 0; i < n && left > 0; ++i) {
      double* row = rows.row(i);
      std::int64_t k = fit_count(row, s, left);
      if (k == 0) continue;
      take(row, s, k);
      left -= k;
      if (used) (*used)[i] = 1;
    }
  }
}

}  // namespace raycluster::detail
