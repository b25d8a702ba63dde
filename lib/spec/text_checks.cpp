#include "spec/text_checks.hpp"

#include <vector>

namespace raycluster::detail {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80)
      n = 0;
    else if ((c >> 5) == 6)
      n = 1;
    else if ((c >> 4) == 14)
      n = 2;
    else if ((c >> 3) == 30)
      n = 3;
    else
      return false;
    if (i + n >= s.size() && n > 0) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n + 1;
  }
  return true;
}

// Counts the levels a line opens: indentation deeper than the lines above
// it (block nesting), the block indicators that open a level on the line
// itself ("- - a", "a: - b"), and flow brackets. YAML parsers recurse once per
// level, so this runs on the text, before any parser sees it.
std::optional<int> too_deep_line(std::string_view s, int limit) {
  int flow = 0;
  int line = 1;
  bool in_single = false, in_double = false;
  int inline_block = 0;
  bool line_start = true;
  std::size_t column = 0;
  std::vector<std::size_t> indents;  // of the open block levels, increasing
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n') {
      ++line;
      in_single = in_double = false;
      inline_block = 0;
      line_start = true;
      column = 0;
      continue;
    }
    if (line_start && c == ' ') {
      ++column;
      continue;
    }
    if (line_start && inline_block == 0 && !in_single && !in_double && flow == 0 && c != '#' &&
        c != '\r' && c != '\t') {
      while (!indents.empty() && indents.back() >= column) indents.pop_back();
      indents.push_back(column);
    }
    if (in_single) {
      if (c == '\'') in_single = false;
      continue;
    }
    if (in_double) {
      if (c == '\\') ++i;
      else if (c == '"') in_double = false;
      continue;
    }
    if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n')) {
      while (i + 1 < s.size() && s[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '\'') in_single = true;
    else if (c == '"') in_double = true;
    else if (c == '[' || c == '{') ++flow;
    else if ((c == ']' || c == '}') && flow > 0) --flow;
    else if (line_start && (c == '-' || c == '?' || c == ':') && i + 1 < s.size() && s[i + 1] == ' ')
      ++inline_block;
    else
      line_start = false;
    if (flow > limit || inline_block > limit ||
        static_cast<int>(indents.size()) + inline_block + flow > limit)
      return line;
  }
  return std::nullopt;
}

}  // namespace raycluster::detail
