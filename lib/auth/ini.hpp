// The INI dialect of ~/.aws/credentials and ~/.aws/config, as botocore reads it
// (Python's configparser): "[section]", "key = value" or "key: value", comment
// lines starting with "#" or ";", keys case-insensitive, values trimmed, and
// nested values ("s3 =" followed by indented "key = value" lines), which are
// stored as "s3.key".
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace raycluster::detail {

struct IniSection {
  std::string name;                          // as written, trimmed: "profile dev"
  std::map<std::string, std::string> values;  // lower-case key -> value
};

// Sections in file order; a repeated section name merges into the first
// occurrence (later keys win), like configparser's non-strict mode.
std::vector<IniSection> parse_ini(std::string_view text);

}  // namespace raycluster::detail
