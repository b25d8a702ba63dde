#include "providers/gcp/labels.hpp"

#include <cstring>
#include <optional>

#include "util/error.hpp"

namespace raycluster::detail::gce {
namespace {

bool plain(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool is_hex(std::string_view s) {
  if (s.size() % 2) return false;
  for (char c : s)
    if (hex_digit(c) < 0) return false;
  return true;
}

constexpr const char* kBase32 = "abcdefghijklmnopqrstuvwxyz234567";

// Lowercase hex as lowercase base32 (RFC 4648 alphabet, no padding).
std::string hex_to_base32(std::string_view hex) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    buffer = (buffer << 8) | static_cast<unsigned>(hex_digit(hex[i]) * 16 + hex_digit(hex[i + 1]));
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> base32_to_hex(std::string_view b32) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : b32) {
    const char* at = std::strchr(kBase32, c);
    if (c == '\0' || !at) return std::nullopt;
    buffer = (buffer << 5) | static_cast<unsigned>(at - kBase32);
    bits += 5;
    if (bits >= 8) {
      unsigned byte = (buffer >> (bits - 8)) & 255;
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
      bits -= 8;
    }
  }
  return out;
}

}  // namespace

std::string encode_label_value(std::string_view key, std::string_view value) {
  bool fits = value.size() <= kMaxLabelLength && (value.empty() || value[0] != '_');
  for (char c : value) fits = fits && (plain(c) || c == '_');
  if (fits) return std::string(value);
  // Long hashes (launch and runtime config hashes are 64 hex digits).
  if (value.size() > kMaxLabelLength && is_hex(value)) {
    std::string out = "_x" + hex_to_base32(value);
    if (out.size() <= kMaxLabelLength) return out;
  }
  static const char* kHex = "0123456789abcdef";
  std::string out = "__";
  for (unsigned char c : value) {
    if (plain(static_cast<char>(c))) {
      out += static_cast<char>(c);
    } else {
      out += '_';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (out.size() > kMaxLabelLength)
    throw Error(ErrorCode::invalid_argument,
                "the value of " + std::string(key) + " (" + std::to_string(value.size()) +
                    " characters) does not fit in a GCP label (63 lowercase characters, "
                    "other characters taking 3): use a shorter one");
  return out;
}

std::string decode_label_value(std::string_view label) {
  if (label.substr(0, 2) == "_x")
    if (auto hex = base32_to_hex(label.substr(2))) return *hex;
  if (label.substr(0, 2) != "__") return std::string(label);
  std::string out;
  for (std::size_t i = 2; i < label.size(); ++i) {
    char c = label[i];
    if (c != '_') {
      out += c;
      continue;
    }
    int hi = i + 1 < label.size() ? hex_digit(label[i + 1]) : -1;
    int lo = i + 2 < label.size() ? hex_digit(label[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::string(label);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool valid_label_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxLabelLength || !(key[0] >= 'a' && key[0] <= 'z')) return false;
  for (char c : key)
    if (!plain(c) && c != '_') return false;
  return true;
}

std::map<std::string, std::string> to_labels(const std::map<std::string, std::string>& tags) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : tags) {
    if (!valid_label_key(k))
      throw Error(ErrorCode::invalid_argument,
                  "tag " + k + " cannot be a GCP label key (lowercase letters, digits, '_' and "
                  "'-', starting with a letter, at most 63)");
    out[k] = encode_label_value(k, v);
  }
  return out;
}

std::map<std::string, std::string> from_labels(const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : labels) out[k] = decode_label_value(v);
  return out;
}

std::string name_part(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += plain(c) ? c : '-';
  }
  return out;
}

}  // namespace raycluster::detail::gce
