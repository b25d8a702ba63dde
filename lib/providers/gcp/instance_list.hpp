// instances.list answers parsed straight into Instances (RapidJSON's SAX
// reader, iterative: no recursion, no DOM), so a listing of thousands of
// instances costs one pass over the text and only the fields the provider
// reads. Bounded: nesting deeper than 64 or more than 100,000 instances in
// one answer is refused with Error(invalid_request).
#pragma once

#include <string>

#include "providers/gcp/gcp_provider.hpp"

namespace raycluster::detail::gce {

inline constexpr std::size_t kMaxListDepth = 64;
inline constexpr std::size_t kMaxListItems = 100000;

// Throws Error(invalid_request) for text that is not JSON or breaks a bound.
InstancePage parse_instance_list(const std::string& json);

}  // namespace raycluster::detail::gce
