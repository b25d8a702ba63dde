// Internal: the planner's dense data layout and its packing primitives.
//
// Resource names are interned to small ids; a node's capacity is a row of
// `width` doubles in one flat vector; a demand shape is a short sparse list
// of (id, amount) sorted by id. Shapes are aggregated: residual demand is a
// count per shape id, visited in Ray's packing order (`Shapes::order`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "autoscaler/autoscaler.hpp"

namespace raycluster::detail {

class Interner {
 public:
  int intern(std::string_view name);
  int find(std::string_view name) const;  // -1 when unknown
  const std::string& name(int id) const { return names_[static_cast<std::size_t>(id)]; }
  int size() const noexcept { return static_cast<int>(names_.size()); }

 private:
  std::unordered_map<std::string, int> ids_;
  std::vector<std::string> names_;
};

struct Req {
  int id;
  double amount;  // > 0
};

struct Shape {
  std::vector<Req> reqs;  // sorted by id
  std::vector<Req> sig;   // the same, in the map's (name) order: the lookup key
  ResourceMap map;        // canonical form, for output and ordering
};

// Distinct shapes with Ray's packing order (more kinds, then larger sum,
// then larger sorted items, all descending).
class Shapes {
 public:
  // Returns the id of the shape (adding it when new). Throws on negatives.
  int add(const ResourceMap& m, Interner& names);
  // Sorts `order`; call once after all add() calls.
  void finish();
  std::size_t size() const noexcept { return shapes_.size(); }
  const Shape& operator[](std::size_t i) const { return shapes_[i]; }
  const std::vector<int>& order() const noexcept { return order_; }

 private:
  // Open addressing over shape ids (-1 = empty), keyed by the (id, amount)
  // signature: no string hashing per demand once names are interned.
  int lookup(const std::vector<Req>& sig, std::uint64_t h) const;
  void grow();
  std::vector<Shape> shapes_;
  std::vector<std::uint64_t> hashes_;
  std::vector<int> table_;
  std::vector<Req> scratch_;
  std::vector<int> order_;
};

// A matrix of node rows, `width` resources each.
struct Rows {
  int width = 0;
  std::vector<double> cap;
  std::size_t count() const noexcept { return width ? cap.size() / static_cast<std::size_t>(width) : 0; }
  double* row(std::size_t i) { return cap.data() + i * static_cast<std::size_t>(width); }
  const double* row(std::size_t i) const { return cap.data() + i * static_cast<std::size_t>(width); }
  void push(const double* r) { cap.insert(cap.end(), r, r + width); }
};

// How many copies of `s` fit into `row` (at most `limit`).
std::int64_t fit_count(const double* row, const Shape& s, std::int64_t limit);
// Subtracts k copies of `s` from `row`.
void take(double* row, const Shape& s, std::int64_t k);

// Ray's get_bin_pack_residual for aggregated demand: each bundle, in shape
// order, goes to the first row it fits. `counts` (per shape id) becomes the
// residual; rows with anything placed get used[row] = 1 when `used` is given.
void first_fit(Rows& rows, const Shapes& shapes, std::vector<std::int64_t>& counts,
               std::vector<std::uint8_t>* used);

}  // namespace raycluster::detail
