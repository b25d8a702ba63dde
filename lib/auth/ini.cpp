#include "auth/ini.hpp"

#include "util/strings.hpp"

namespace raycluster::detail {

std::vector<IniSection> parse_ini(std::string_view text) {
  std::vector<IniSection> sections;
  std::size_t current = 0;  // index + 1; 0: before any section
  std::string last_key;  // the key an indented line continues
  for (auto& raw : split(text, '\n')) {
    std::string_view line = raw;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto body = trim(line);
    if (body.empty() || body.front() == '#' || body.front() == ';') continue;
    bool indented = line.front() == ' ' || line.front() == '\t';
    if (indented && current && !last_key.empty()) {
      auto& values = sections[current - 1].values;
      auto eq = body.find_first_of("=:");
      if (eq != std::string_view::npos)
        values[last_key + "." + ascii_lower(trim(body.substr(0, eq)))] =
            std::string(trim(body.substr(eq + 1)));
      continue;
    }
    if (body.front() == '[') {
      auto close = body.find(']');
      auto name = std::string(trim(body.substr(1, close == std::string_view::npos ? body.size() - 1
                                                                                   : close - 1)));
      current = 0;
      for (std::size_t i = 0; i < sections.size(); ++i)
        if (sections[i].name == name) current = i + 1;
      if (!current) {
        sections.push_back({name, {}});
        current = sections.size();
      }
      last_key.clear();
      continue;
    }
    if (!current) continue;  // keys before any section: configparser refuses the file
    auto eq = body.find_first_of("=:");
    if (eq == std::string_view::npos) continue;
    last_key = ascii_lower(trim(body.substr(0, eq)));
    sections[current - 1].values[last_key] = std::string(trim(body.substr(eq + 1)));
  }
  return sections;
}

}  // namespace raycluster::detail
