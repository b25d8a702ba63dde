// Which files of a file mount are copied, as Ray's `rsync -avz --exclude P...
// --filter 'dir-merge,- NAME'...` copies them (rsync_exclude, rsync_filter).
//
// Exclude patterns (rsync's INCLUDE/EXCLUDE PATTERN RULES):
//   * a leading "/" anchors the pattern at the mount's root (for a pattern
//     read from a merge file: at the folder holding that file);
//   * a trailing "/" matches folders only;
//   * `*` any run of characters but "/", `**` any run including "/", `?` one
//     character but "/", `[...]` a class (`!`/`^` negate, ranges; never "/"),
//     `\` quotes the next character; "dir/***" is "dir" and all under it;
//   * a pattern without "/" (but a trailing one) or "**" matches a name
//     wherever it is; with an inner "/" and no "**", the path's last
//     components; one with "**" anywhere on a "/" boundary ("**" first: from
//     the root, the "**" also matching nothing);
//   * rsync_exclude entries may start with "- " (exclude) or "+ " (include:
//     kept, and no later rule is tried); "!" alone drops the entries before it.
// First matching rule wins; an excluded folder is not entered, so nothing
// under it is copied.
//
// Merge files (`dir-merge,- NAME`): in every folder copied, a file NAME
// (e.g. .gitignore) gives exclude patterns for that folder and below, one
// per line, kept as written (no "!" negation, no "+ "/"- " prefixes: rsync
// reads such a line as a literal pattern), lines starting with "#" or ";"
// and empty lines skipped. The merge files themselves are copied.
//
// A file mount of a single file is matched by its name against rsync_exclude.
//
// Bounds: patterns of at most kMaxPatternBytes with at most kMaxStars star
// runs, merge files of at most kMaxMergeFileBytes, walks of at most
// kMaxEntries entries; past them an Error names the limit and the path.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace raycluster::detail {

inline constexpr std::size_t kMaxPatternBytes = 1024;
inline constexpr int kMaxStars = 32;
inline constexpr std::size_t kMaxMergeFileBytes = 1 << 20;
inline constexpr std::size_t kMaxEntries = 1000000;

// rsync's wildmatch of a whole `text` (no implicit anchoring or suffixes).
// Throws Error(invalid_argument) for a pattern past the bounds above.
bool rsync_wildmatch(const std::string& pattern, const std::string& text);

class RsyncRules {
 public:
  // Throws Error(invalid_argument) naming a pattern past the bounds.
  RsyncRules(const std::vector<std::string>& excludes, const std::vector<std::string>& merge_files);
  // True when nothing would be left out (no patterns and no merge files).
  bool empty() const;

  // The entries under the folder `root` that are copied, relative to it,
  // "/"-separated, folders with a trailing "/", in walk order (a folder
  // before what is in it). Follows symbolic links as the uploads do.
  // Throws Error(io) for a folder it cannot list or a merge file it cannot
  // read, Error(invalid_argument) past the bounds.
  std::vector<std::string> kept(const std::string& root) const;

  // Whether a single file mount named `name` is copied.
  bool keeps_file(const std::string& name) const;

  struct Rule;

 private:
  std::vector<std::shared_ptr<const Rule>> rules_;
  std::vector<std::string> merge_files_;
};

// A copy of `root` holding only what `rules` keep: files hard-linked (copied
// where links cannot be made), folders with their modes. Removed with the
// object. Throws Error(io) when it cannot be made.
class FilteredTree {
 public:
  FilteredTree(const std::string& root, const RsyncRules& rules);
  ~FilteredTree();
  FilteredTree(const FilteredTree&) = delete;
  FilteredTree& operator=(const FilteredTree&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string base_;  // the temporary folder holding path_
  std::string path_;
};

}  // namespace raycluster::detail
