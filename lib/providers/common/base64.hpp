// Base64 (RFC 4648, with padding) for EC2 blobs, user data and key material.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace raycluster::detail {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not valid base64 (white space is ignored).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace raycluster::detail
