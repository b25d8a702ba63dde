// Random identifiers.
#pragma once

#include <string>

namespace raycluster::detail {

// `bytes` random bytes from the OS CSPRNG, as lowercase hex.
std::string random_hex(std::size_t bytes);

}  // namespace raycluster::detail
