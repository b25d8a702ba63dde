// Ray's request_resources(num_cpus=N, bundles=[...]): the one parser both the
// command line and the C ABI use, and the request as it is persisted for the
// reconcile loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "autoscaler/autoscaler.hpp"

namespace raycluster {

// The bundles JSON is refused above this many bytes (a list of 10,000
// distinct shapes fits in a tenth of it; identical bundles are better given
// as num_cpus or repeated shapes, which are aggregated).
inline constexpr std::size_t kMaxResourceRequestBytes = std::size_t{1} << 20;
// A request is refused above this many bundles in total (num_cpus plus the
// list): ten million one-CPU bundles is more than any Ray cluster holds.
inline constexpr std::int64_t kMaxRequestedBundles = 10'000'000;
// A resource amount above this is refused (memory is in bytes: an exabyte).
inline constexpr double kMaxRequestedAmount = 1e18;

// Parses Ray's request_resources(num_cpus=num_cpus, bundles=bundles_json):
// num_cpus bundles of {"CPU": 1}, then the bundles of `bundles_json`, a JSON
// list of objects of resource amounts (finite numbers >= 0), e.g.
// [{"CPU": 2, "GPU": 1}]. No `bundles_json` means no list; "[]" or num_cpus
// 0 alone withdraws the request. Identical bundles come out as one
// ResourceDemand with their count, in the order each shape first appears;
// bundles with no amount above 0 are dropped.
// Throws Error(invalid_argument) with the same text for the same mistake
// whoever calls; the text names the limit it hit.
std::vector<ResourceDemand> parse_resource_request(std::optional<std::string_view> bundles_json,
                                                   std::int64_t num_cpus = 0);

// Identical shapes merged into one entry with the summed count (first-seen
// order); empty shapes and counts below 1 dropped.
std::vector<ResourceDemand> aggregate_demands(const std::vector<ResourceDemand>& demands);

// The persisted request (each write replaces the previous one; an empty list
// withdraws it), <state_dir>/requested_resources.json, written atomically:
// {"requests": [[{"CPU": 1}, 1000000], ...], "updated": <unix seconds>}, the
// shape-and-count pairs of Ray's own report. The reader also takes the older
// {"bundles": [{"CPU": 1}, ...]} and throws Error(invalid_argument) for a
// file that is neither, or asks for more than kMaxRequestedBundles.
void write_resource_request(const std::string& state_dir,
                            const std::vector<ResourceDemand>& requests);
std::vector<ResourceDemand> read_resource_request(const std::string& state_dir);

}  // namespace raycluster
