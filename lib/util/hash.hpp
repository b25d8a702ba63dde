// Hashes (OpenSSL).
#pragma once

#include <string>
#include <string_view>

namespace raycluster::detail {

std::string sha256_hex(std::string_view data);
std::string sha256_raw(std::string_view data);  // 32 bytes
std::string hex(std::string_view bytes);

}  // namespace raycluster::detail
