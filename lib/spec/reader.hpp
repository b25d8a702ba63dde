// Typed reads of a YAML tree that collect diagnostics instead of throwing,
// so one pass reports every problem of a config file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "spec/spec.hpp"

namespace raycluster::detail {

// "a.b" from ("a", "b"); "b" from ("", "b").
std::string join_path(const std::string& path, const std::string& key);

class SpecReader {
 public:
  explicit SpecReader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }
  SourceLocation loc(const YAML::Node& n) const;
  void error(const SourceLocation& where, std::string path, std::string message,
             std::string hint = {});
  void error(const YAML::Node& at, std::string path, std::string message,
             std::string hint = {}) {
    error(loc(at), std::move(path), std::move(message), std::move(hint));
  }

  // A key Ray accepts that has no effect here: a warning, the config stays valid.
  void warn(const SourceLocation& where, std::string path, std::string message,
            std::string hint = {});

  // Resolves YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`) in place, as
  // PyYAML does for Ray: keys written in the mapping win, then the merged
  // mappings in list order. A `<<` whose value is not a mapping (or a list
  // of them) is an error. Bounded by the nesting limit.
  void resolve_merge_keys(YAML::Node n, int depth = 0);

  // Where a key path is (the key's own position when recorded), else `fallback`.
  SourceLocation where(const std::string& path, const YAML::Node& fallback) const;

  // Records the position of every mapping key under `n` (dotted paths) into
  // origins. Bounded: aliases can make a small file a huge tree.
  void record_origins(const YAML::Node& n, const std::string& path, int depth = 0);

  // Reports keys of `map` not in `allowed` (with a did-you-mean) and keys
  // written twice. `what` names the mapping in messages ("provider").
  void check_keys(const YAML::Node& map, const std::string& path,
                  const std::vector<std::string>& allowed);

  // Each returns nullopt after reporting when the value has the wrong shape.
  bool expect_map(const YAML::Node& v, const std::string& path);
  std::optional<std::string> str(const YAML::Node& v, const std::string& path);
  // A whole number >= 0 (4.0 reads as 4, as Ray's schema takes it).
  std::optional<int> count(const YAML::Node& v, const std::string& path);
  // A number >= min (and <= max).
  std::optional<double> number(const YAML::Node& v, const std::string& path, double min,
                               double max = 1e300);
  std::optional<bool> boolean(const YAML::Node& v, const std::string& path);
  // A list of strings; a null value is an empty list.
  std::optional<std::vector<std::string>> str_list(const YAML::Node& v, const std::string& path);
  std::optional<std::map<std::string, std::string>> str_map(const YAML::Node& v,
                                                             const std::string& path);
  std::optional<std::map<std::string, double>> resources(const YAML::Node& v,
                                                         const std::string& path);
  // A JSON-shaped copy (provider-native config). Plain scalars become
  // null/bool/integer/number when they read as such; quoted ones stay strings.
  Value to_value(const YAML::Node& v, int depth = 0);

  std::vector<Diagnostic>& diagnostics() { return diags_; }
  std::vector<Diagnostic>& warnings() { return warnings_; }
  std::map<std::string, SourceLocation>& origins() { return origins_; }
  bool over_budget() const { return budget_ < 0; }

 private:
  // Charges `bytes` against the expansion budget; false (reported once) when spent.
  bool spend(std::size_t bytes);
  // False (reported once) when `depth` is past the nesting limit.
  bool within_depth(const YAML::Node& at, int depth);

  std::string file_;
  std::vector<Diagnostic> diags_;
  std::vector<Diagnostic> warnings_;
  std::map<std::string, SourceLocation> origins_;
  // Bytes of keys, paths and scalars that record_origins/to_value may visit:
  // aliases repeat what they point at, so a small file can expand to a huge
  // tree; counting bytes (not values) bounds the memory that costs.
  static constexpr long kExpansionBytes = 4L << 20;
  static constexpr int kMaxDepth = 64;
  long budget_ = kExpansionBytes;
  bool budget_reported_ = false;
  bool depth_reported_ = false;
};

}  // namespace raycluster::detail
