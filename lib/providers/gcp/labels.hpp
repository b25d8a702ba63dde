// Ray's tags as GCP labels, and back.
//
// GCP label keys and values hold lowercase letters, digits, '_' and '-' only,
// 63 characters at most (keys start with a letter). Ray's tag keys already
// fit; values often do not ("ray.head.default", a cluster name with capitals).
// The encoding is reversible and leaves every value that already fits as it
// is, so labels written by Ray's own GCP provider read back unchanged:
//   * a value of [a-z0-9_-] only, not starting with '_', is the label value;
//   * lowercase hex longer than 63 characters (Ray's config hashes) becomes
//     "_x" followed by its bytes in lowercase base32 (RFC 4648, no padding);
//   * any other value becomes "__" followed by the value with each byte
//     outside [a-z0-9-] written as '_' and two lowercase hex digits
//     ("ray.head.default" -> "__ray_2ehead_2edefault", "_a" -> "___5fa").
// A value whose encoding exceeds 63 characters cannot be a label: encoding
// throws Error(invalid_argument) naming the key.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace raycluster::detail::gce {

inline constexpr std::size_t kMaxLabelLength = 63;

std::string encode_label_value(std::string_view key, std::string_view value);
// The original value; a label that is not a valid encoding is returned as is.
std::string decode_label_value(std::string_view label);
// True for a valid GCP label key: [a-z][a-z0-9_-]{0,62}.
bool valid_label_key(std::string_view key);

// Tags as labels (values encoded); throws for a key that is not a valid label key.
std::map<std::string, std::string> to_labels(const std::map<std::string, std::string>& tags);
std::map<std::string, std::string> from_labels(const std::map<std::string, std::string>& labels);

// A lowercase RFC 1035 name part: [a-z0-9-] only, other characters as '-',
// at most `max` characters (for instance names and network tags).
std::string name_part(std::string_view s, std::size_t max);

}  // namespace raycluster::detail::gce
