#include "spec/reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "util/strings.hpp"

namespace raycluster::detail {

namespace {

// YAML gives quoted scalars the non-specific tag "!"; plain ones "?".
bool quoted(const YAML::Node& v) { return v.Tag() == "!"; }

const char* kind_name(const YAML::Node& v) {
  switch (v.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "an undefined value";
  }
}

std::string shown(const YAML::Node& v) {
  if (v.IsScalar()) {
    std::string s = v.Scalar();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "'" + s + "'";
  }
  return kind_name(v);
}

std::optional<std::int64_t> parse_int(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (std::size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return std::nullopt;
  return static_cast<std::int64_t>(v);
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (s == ".inf" || s == ".Inf" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf") return -HUGE_VAL;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
      return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno == ERANGE || *end != '\0' || end == s.c_str()) return std::nullopt;
  return v;
}

std::string plain_number(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::optional<bool> parse_bool(const std::string& s) {
  static const char* const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char* const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (const char* y : yes)
    if (s == y) return true;
  for (const char* n : no)
    if (s == n) return false;
  return std::nullopt;
}

}  // namespace

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

SourceLocation SpecReader::loc(const YAML::Node& n) const {
  SourceLocation l{file_, 0, 0};
  if (n.IsDefined()) {
    YAML::Mark m = n.Mark();
    if (m.line >= 0) {
      l.line = m.line + 1;
      l.column = m.column + 1;
    }
  }
  return l;
}

void SpecReader::error(const SourceLocation& where, std::string path, std::string message,
                       std::string hint) {
  diags_.push_back(Diagnostic{where, std::move(path), std::move(message), std::move(hint)});
}

void SpecReader::warn(const SourceLocation& where, std::string path, std::string message,
                      std::string hint) {
  warnings_.push_back(Diagnostic{where, std::move(path), std::move(message), std::move(hint)});
}

void SpecReader::resolve_merge_keys(YAML::Node n, int depth) {
  // Every visit is charged: aliases make a small file a huge tree to walk.
  if (!within_depth(n, depth) || !spend(n.IsScalar() ? n.Scalar().size() : 0)) return;
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size() && !over_budget(); ++i)
      resolve_merge_keys(n[i], depth + 1);
    return;
  }
  if (!n.IsMap()) return;
  std::vector<YAML::Node> sources;  // the `<<` values, in order
  std::vector<std::pair<YAML::Node, YAML::Node>> entries;
  for (auto it = n.begin(); it != n.end(); ++it) entries.emplace_back(it->first, it->second);
  bool has_merge = false;
  for (auto& [k, v] : entries) {
    if (!k.IsScalar() || k.Scalar() != "<<" || k.Tag() == "!") continue;
    has_merge = true;
    if (v.IsMap()) {
      sources.push_back(v);
    } else if (v.IsSequence()) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i].IsMap())
          sources.push_back(v[i]);
        else
          error(v[i], "<<", "a merge key ('<<') takes a mapping or a list of mappings, got " +
                                shown(v[i]),
                "write '<<: *anchor' or '<<: [*a, *b]' with anchors on mappings");
      }
    } else {
      error(v, "<<", "a merge key ('<<') takes a mapping or a list of mappings, got " + shown(v),
            "write '<<: *anchor' or '<<: [*a, *b]' with anchors on mappings");
    }
  }
  if (has_merge) {
    n.remove("<<");
    for (const YAML::Node& src : sources) {
      resolve_merge_keys(src, depth + 1);
      for (auto it = src.begin(); it != src.end(); ++it) {
        if (!it->first.IsScalar()) continue;
        const std::string& key = it->first.Scalar();
        if (!spend(key.size())) return;
        if (!n[key].IsDefined()) n[key] = it->second;
      }
    }
  }
  for (auto& [k, v] : entries)
    if (!(k.IsScalar() && k.Scalar() == "<<")) resolve_merge_keys(v, depth + 1);
}

SourceLocation SpecReader::where(const std::string& path, const YAML::Node& fallback) const {
  auto it = origins_.find(path);
  if (it != origins_.end()) return it->second;
  return loc(fallback);
}

bool SpecReader::spend(std::size_t bytes) {
  budget_ -= static_cast<long>(std::min<std::size_t>(bytes, kExpansionBytes)) + 1;
  if (budget_ >= 0) return true;
  if (!budget_reported_) {
    budget_reported_ = true;
    error(SourceLocation{file_, 1, 1}, "",
          "the config expands to more than " + std::to_string(kExpansionBytes >> 20) +
              " MiB of keys and values (the limit)",
          "aliases (*name) repeat what they point at; a cluster config needs few of them");
  }
  return false;
}

bool SpecReader::within_depth(const YAML::Node& at, int depth) {
  if (depth <= kMaxDepth) return true;
  if (!depth_reported_) {
    depth_reported_ = true;
    error(at, "", "the config nests deeper than " + std::to_string(kMaxDepth) +
                      " levels (the limit)",
          "a cluster config needs a few levels; check aliases (*name) and merge keys");
  }
  budget_ = -1;  // stop every walk
  return false;
}

void SpecReader::record_origins(const YAML::Node& n, const std::string& path, int depth) {
  if (!within_depth(n, depth)) return;
  if (!spend(path.size() + (n.IsScalar() ? n.Scalar().size() : 0))) return;
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const auto kv = *it;
      if (!kv.first.IsScalar()) continue;
      std::string p = join_path(path, kv.first.Scalar());
      // A key a merge (`<<`) brought in has no position of its own: use its value's.
      SourceLocation at = loc(kv.first);
      if (at.line == 0) at = loc(kv.second);
      origins_.emplace(p, at);
      record_origins(kv.second, p, depth + 1);
      if (over_budget()) return;
    }
  } else if (n.IsSequence()) {
    std::size_t i = 0;
    for (auto it = n.begin(); it != n.end(); ++it, ++i) {
      const auto kv = *it;
      record_origins(kv, path + "[" + std::to_string(i) + "]", depth + 1);
      if (over_budget()) return;
    }
  }
}

void SpecReader::check_keys(const YAML::Node& map, const std::string& path,
                            const std::vector<std::string>& allowed) {
  if (!map.IsMap()) return;
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const auto kv = *it;
    const YAML::Node& k = kv.first;
    if (!k.IsScalar()) {
      error(k, path, "a key must be a plain name, not " + std::string(kind_name(k)));
      continue;
    }
    const std::string& name = k.Scalar();
    std::string p = join_path(path, name);
    if (!seen.insert(name).second) {
      error(k, p, "key '" + name + "' is given twice", "keep one of them");
      continue;
    }
    bool known = false;
    for (const auto& a : allowed)
      if (a == name) known = true;
    if (known) continue;
    std::string where_in = path.empty() ? "at the top level" : "in " + path;
    std::string hint;
    if (auto m = closest_match(name, allowed))
      hint = "did you mean '" + *m + "'?";
    else
      hint = "known keys here: " + join(allowed, ", ");
    error(k, p, "unknown key '" + name + "' " + where_in, hint);
  }
}

bool SpecReader::expect_map(const YAML::Node& v, const std::string& path) {
  if (v.IsMap()) return true;
  error(v, path, "expected a mapping (key: value lines), got " + shown(v));
  return false;
}

std::optional<std::string> SpecReader::str(const YAML::Node& v, const std::string& path) {
  if (v.IsScalar()) return v.Scalar();
  error(v, path, "expected a string, got " + shown(v));
  return std::nullopt;
}

std::optional<int> SpecReader::count(const YAML::Node& v, const std::string& path) {
  if (!v.IsScalar() || quoted(v)) {
    error(v, path, "expected a whole number, got " + shown(v));
    return std::nullopt;
  }
  auto i = parse_int(v.Scalar());
  if (!i) {
    // 4.0 is a whole number (jsonschema's "integer" takes it, so Ray does).
    if (auto d = parse_double(v.Scalar());
        d && std::isfinite(*d) && *d == std::floor(*d) && std::fabs(*d) <= 1e15)
      i = static_cast<std::int64_t>(*d);
  }
  if (!i) {
    if (auto d = parse_double(v.Scalar()))
      error(v, path, "expected a whole number, got " + shown(v),
            "a count of nodes has no fraction; write e.g. " +
                (std::fabs(*d) < 1e6 ? std::to_string(static_cast<long long>(std::floor(std::fabs(*d))))
                                     : std::string("1000000")));
    else
      error(v, path, "expected a whole number, got " + shown(v));
    return std::nullopt;
  }
  if (*i < 0) {
    error(v, path, "must be 0 or more, got " + v.Scalar());
    return std::nullopt;
  }
  if (*i > 1'000'000) {
    error(v, path, "is unreasonably large: " + v.Scalar(), "use at most 1000000");
    return std::nullopt;
  }
  return static_cast<int>(*i);
}

std::optional<double> SpecReader::number(const YAML::Node& v, const std::string& path, double min,
                                         double max) {
  std::optional<double> d;
  if (v.IsScalar() && !quoted(v)) d = parse_double(v.Scalar());
  if (!d || std::isnan(*d)) {
    error(v, path, "expected a number, got " + shown(v));
    return std::nullopt;
  }
  if (*d < min || *d > max || std::isinf(*d)) {
    std::string range = "at least " + plain_number(min);
    if (max < 1e300) range = "between " + plain_number(min) + " and " + plain_number(max);
    error(v, path, "must be " + range + ", got " + v.Scalar());
    return std::nullopt;
  }
  return d;
}

std::optional<bool> SpecReader::boolean(const YAML::Node& v, const std::string& path) {
  std::optional<bool> b;
  if (v.IsScalar() && !quoted(v)) b = parse_bool(v.Scalar());
  if (!b) error(v, path, "expected true or false, got " + shown(v));
  return b;
}

std::optional<std::vector<std::string>> SpecReader::str_list(const YAML::Node& v,
                                                             const std::string& path) {
  std::vector<std::string> out;
  if (v.IsNull()) return out;
  if (!v.IsSequence()) {
    error(v, path, "expected a list of strings, got " + shown(v),
          "write one item per line, each starting with '- '");
    return std::nullopt;
  }
  bool ok = true;
  std::size_t i = 0;
  for (auto it = v.begin(); it != v.end(); ++it, ++i) {
    const auto kv = *it;
    if (kv.IsScalar()) {
      out.push_back(kv.Scalar());
    } else {
      error(kv, path + "[" + std::to_string(i) + "]", "expected a string, got " + shown(kv));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, std::string>> SpecReader::str_map(const YAML::Node& v,
                                                                      const std::string& path) {
  std::map<std::string, std::string> out;
  if (v.IsNull()) return out;
  if (!expect_map(v, path)) return std::nullopt;
  bool ok = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const auto kv = *it;
    if (!kv.first.IsScalar()) {
      error(kv.first, path, "a key must be a plain name");
      ok = false;
      continue;
    }
    std::string p = join_path(path, kv.first.Scalar());
    if (!kv.second.IsScalar()) {
      error(kv.second, p, "expected a string, got " + shown(kv.second));
      ok = false;
      continue;
    }
    if (!out.emplace(kv.first.Scalar(), kv.second.Scalar()).second) {
      error(kv.first, p, "key '" + kv.first.Scalar() + "' is given twice", "keep one of them");
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::map<std::string, double>> SpecReader::resources(const YAML::Node& v,
                                                                   const std::string& path) {
  std::map<std::string, double> out;
  if (v.IsNull()) return out;
  if (!expect_map(v, path)) return std::nullopt;
  bool ok = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const auto kv = *it;
    if (!kv.first.IsScalar() || kv.first.Scalar().empty()) {
      error(kv.first, path, "a resource name must be a non-empty plain name");
      ok = false;
      continue;
    }
    auto d = number(kv.second, join_path(path, kv.first.Scalar()), 0);
    if (!d) {
      ok = false;
      continue;
    }
    out[kv.first.Scalar()] = *d;
  }
  if (!ok) return std::nullopt;
  return out;
}

Value SpecReader::to_value(const YAML::Node& v, int depth) {
  if (!within_depth(v, depth)) return Value();
  if (!spend(v.IsScalar() ? v.Scalar().size() : 0)) return Value();
  switch (v.Type()) {
    case YAML::NodeType::Map: {
      Value out = Value::object();
      for (auto it = v.begin(); it != v.end(); ++it) {
        const auto kv = *it;
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
        if (!spend(key.size())) break;
        out.set(key, to_value(kv.second, depth + 1));
        if (over_budget()) break;
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      Value out = Value::array();
      for (auto it = v.begin(); it != v.end(); ++it) {
        const auto kv = *it;
        out.push(to_value(kv, depth + 1));
        if (over_budget()) break;
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = v.Scalar();
      if (quoted(v)) return Value(s);
      if (s == "~" || s == "null" || s == "Null" || s == "NULL") return Value();
      if (auto b = parse_bool(s)) return Value(*b);
      if (auto i = parse_int(s)) return Value(*i);
      if (auto d = parse_double(s); d && s.find_first_of(".eE") != std::string::npos)
        return Value(*d);
      return Value(s);
    }
    default:
      return Value();
  }
}

}  // namespace raycluster::detail
