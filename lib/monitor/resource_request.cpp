#include "monitor/resource_request.hpp"

#include <chrono>
#include <cmath>
#include <map>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/value.hpp"

namespace raycluster {
namespace {

constexpr const char* kPrefix = "request_resources: ";

[[noreturn]] void refuse(const std::string& why) {
  throw Error(ErrorCode::invalid_argument, kPrefix + why);
}

std::string too_many() {
  return "more than " + std::to_string(kMaxRequestedBundles) +
         " bundles in total (the limit, kMaxRequestedBundles)";
}

// {"CPU": 1, ...} -> ResourceMap, or refuse() naming `what`.
ResourceMap shape_of(const Value& b, const std::string& what) {
  if (!b.is_object())
    refuse(what + " is not an object of resource amounts, e.g. {\"CPU\": 1}");
  ResourceMap m;
  for (const auto& [k, amount] : b.as_object()) {
    if (k.empty()) refuse(what + " has an empty resource name");
    if (!amount.is_number() || !std::isfinite(amount.as_number()) || amount.as_number() < 0 ||
        amount.as_number() > kMaxRequestedAmount)
      refuse(what + ": \"" + k + "\" must be a finite number >= 0 and at most 1e18");
    m.set(k, amount.as_number());
  }
  return m;
}

// Adds `count` of `shape` to `out`, merging with an earlier identical shape.
void add(std::vector<ResourceDemand>& out, std::map<ResourceMap, std::size_t>& index,
         std::int64_t& total, ResourceMap shape, std::int64_t count) {
  if (shape.empty() || count < 1) return;
  if (count > kMaxRequestedBundles - total) refuse(too_many());
  total += count;
  auto [it, fresh] = index.emplace(shape, out.size());
  if (fresh)
    out.push_back({std::move(shape), count});
  else
    out[it->second].count += count;
}

std::string request_path(const std::string& state_dir) {
  return state_dir + "/requested_resources.json";
}

}  // namespace

std::vector<ResourceDemand> parse_resource_request(std::optional<std::string_view> bundles,
                                                   std::int64_t num_cpus) {
  if (num_cpus < 0)
    refuse("num_cpus must be a whole number >= 0, not " + std::to_string(num_cpus));
  if (num_cpus > kMaxRequestedBundles) refuse(too_many());
  const std::string_view bundles_json = bundles.value_or(std::string_view());
  if (bundles_json.size() > kMaxResourceRequestBytes)
    refuse("bundles is " + std::to_string(bundles_json.size()) +
           " bytes, more than the limit of " + std::to_string(kMaxResourceRequestBytes) +
           " (kMaxResourceRequestBytes); give identical bundles once per shape or as num_cpus");
  std::vector<ResourceDemand> out;
  std::map<ResourceMap, std::size_t> index;
  std::int64_t total = 0;
  add(out, index, total, ResourceMap{{"CPU", 1}}, num_cpus);
  if (!bundles) return out;
  Value v;
  try {
    v = Value::parse_json(bundles_json);
  } catch (const Error& e) {
    refuse(std::string("bundles is not JSON: ") + e.what());
  }
  if (!v.is_array())
    refuse("bundles must be a JSON list of objects of resource amounts, e.g. [{\"CPU\": 2}] "
           "([] withdraws)");
  std::size_t i = 0;
  for (const auto& b : v.as_array()) {
    add(out, index, total, shape_of(b, "bundle " + std::to_string(i)), 1);
    ++i;
  }
  return out;
}

std::vector<ResourceDemand> aggregate_demands(const std::vector<ResourceDemand>& demands) {
  std::vector<ResourceDemand> out;
  std::map<ResourceMap, std::size_t> index;
  std::int64_t total = 0;
  for (const auto& d : demands) add(out, index, total, d.shape, d.count);
  return out;
}

void write_resource_request(const std::string& state_dir,
                            const std::vector<ResourceDemand>& requests) {
  Value list = Value::array();
  for (const auto& d : aggregate_demands(requests)) {
    Value pair = Value::array();
    pair.push(Value::parse_json(d.shape.to_json()));
    pair.push(d.count);
    list.push(std::move(pair));
  }
  Value v = Value::object();
  v.set("requests", std::move(list));
  v.set("updated", static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()) /
                       1000.0);
  detail::make_dirs(state_dir, 0700);
  detail::write_file_atomic(request_path(state_dir), v.to_json(2) + "\n", 0600);
}

std::vector<ResourceDemand> read_resource_request(const std::string& state_dir) {
  const std::string path = request_path(state_dir);
  if (!detail::path_exists(path)) return {};
  // The old one-entry-per-bundle format could reach this size; the current
  // one stays a few bytes per distinct shape.
  Value v;
  try {
    v = Value::parse_json(detail::read_file(path, 16 << 20));
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_argument, path + ": " + e.what());
  }
  std::vector<ResourceDemand> out;
  std::map<ResourceMap, std::size_t> index;
  std::int64_t total = 0;
  try {
    if (const Value* list = v.find("requests"); list && list->is_array()) {
      std::size_t i = 0;
      for (const auto& entry : list->as_array()) {
        const std::string what = "request " + std::to_string(i++);
        if (!entry.is_array() || entry.size() != 2)
          refuse(what + " is not a [shape, count] pair");
        const Value& n = entry.as_array()[1];
        if (!n.is_number() || !(n.as_number() >= 1) ||
            n.as_number() > static_cast<double>(kMaxRequestedBundles) ||
            n.as_number() != std::floor(n.as_number()))
          refuse(what + ": the count must be a whole number >= 1");
        add(out, index, total, shape_of(entry.as_array()[0], what),
            static_cast<std::int64_t>(n.as_number()));
      }
    } else if (const Value* bundles = v.find("bundles"); bundles && bundles->is_array()) {
      std::size_t i = 0;
      for (const auto& b : bundles->as_array())
        add(out, index, total, shape_of(b, "bundle " + std::to_string(i++)), 1);
    } else {
      refuse("no \"requests\" list");
    }
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_argument, path + ": " + e.what());
  }
  return out;
}

}  // namespace raycluster
