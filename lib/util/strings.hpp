// Small string helpers shared by the modules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raycluster::detail {

std::string_view trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// A-Z to a-z, nothing else (locale-independent).
std::string ascii_lower(std::string_view s);
// Edit distance (insert, delete, substitute, transpose adjacent).
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` when it is close enough to be a likely typo.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);
// Quotes for POSIX sh: 'it'\''s'.
std::string shell_quote(std::string_view s);
// Text from a config, a node, a cloud's answer or Ray made safe to print on
// a terminal: printable ASCII, tab and well-formed UTF-8 (except C1 controls)
// are kept; ESC is shown as "^[", every other control byte (CR, BEL, DEL,
// backspace, C1 controls, bytes of malformed UTF-8) as "\xNN". A newline is
// kept when `keep_newlines` (multi-line messages), else shown as "\x0a"; a
// single trailing newline is always kept as it is, so a line stays a line.
std::string terminal_safe(std::string_view text, bool keep_newlines = false);
// Replaces a leading "~" or "~/" with `home`.
std::string expand_user(const std::string& path, const std::string& home);

}  // namespace raycluster::detail
