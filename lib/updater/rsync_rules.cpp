#include "updater/rsync_rules.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace raycluster::detail {

struct RsyncRules::Rule {
  std::string pattern;  // without the anchoring "/" and the trailing "/"
  std::string base;     // the merge file's folder ("" for rsync_exclude), relative to the root
  bool include = false;
  bool anchored = false;
  bool dir_only = false;
  bool wild = false;          // has *, ? or [
  bool wild2 = false;         // has **
  bool wild2_prefix = false;  // starts with **
  bool wild3_suffix = false;  // ends with /***
  int slashes = 0;
};

namespace {

using Rule = RsyncRules::Rule;

enum Match { kFalse, kTrue, kAbortAll, kAbortToStarStar };

// rsync's dowild (lib/wildmatch.c). Each level of recursion consumes a run
// of stars, so the depth is bounded by the pattern's (at most kMaxStars).
int dowild(const char* p, const char* text) {
  for (; *p; ++text, ++p) {
    const char t = *text;
    if (!t && *p != '*') return kAbortAll;
    switch (*p) {
      case '\\':
        ++p;
        if (t != *p) return kFalse;
        continue;
      case '?':
        if (t == '/') return kFalse;
        continue;
      case '*': {
        bool special = false;
        if (*++p == '*') {
          while (*++p == '*') {
          }
          special = true;
        }
        if (!*p) return special || !std::strchr(text, '/') ? kTrue : kFalse;
        for (; *text; ++text) {
          int m = dowild(p, text);
          if (m != kFalse) {
            if (!special || m != kAbortToStarStar) return m;
          } else if (!special && *text == '/') {
            return kAbortToStarStar;
          }
        }
        return kAbortAll;
      }
      case '[': {
        char pc = *++p;
        if (pc == '^') pc = '!';
        const bool negated = pc == '!';
        if (negated) pc = *++p;
        char prev = 0;
        bool matched = false;
        do {
          if (!pc) return kAbortAll;
          if (pc == '\\') {
            pc = *++p;
            if (!pc) return kAbortAll;
            if (t == pc) matched = true;
          } else if (pc == '-' && prev && p[1] && p[1] != ']') {
            pc = *++p;
            if (pc == '\\') {
              pc = *++p;
              if (!pc) return kAbortAll;
            }
            if (t <= pc && t >= prev) matched = true;
            pc = 0;
          } else if (t == pc) {
            matched = true;
          }
          prev = pc;
        } while ((pc = *++p) != ']');
        if (matched == negated || t == '/') return kFalse;
        continue;
      }
      default:
        if (t != *p) return kFalse;
        continue;
    }
  }
  return *text == '\0' ? kTrue : kFalse;
}

void check_bounds(const std::string& pattern) {
  if (pattern.size() > kMaxPatternBytes)
    throw Error(ErrorCode::invalid_argument,
                "rsync pattern longer than " + std::to_string(kMaxPatternBytes) + " bytes: " +
                    pattern.substr(0, 40) + "...");
  int runs = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i)
    if (pattern[i] == '*' && (i == 0 || pattern[i - 1] != '*')) ++runs;
  if (runs > kMaxStars)
    throw Error(ErrorCode::invalid_argument, "rsync pattern with more than " +
                                                 std::to_string(kMaxStars) + " runs of '*': " +
                                                 pattern.substr(0, 40));
}

Rule make_rule(std::string pattern, bool include, std::string base) {
  check_bounds(pattern);
  Rule r;
  r.include = include;
  r.base = std::move(base);
  if (pattern.size() > 1 && pattern.back() == '/') {
    r.dir_only = true;
    while (pattern.size() > 1 && pattern.back() == '/') pattern.pop_back();
  }
  if (!pattern.empty() && pattern.front() == '/') {
    r.anchored = true;
    pattern.erase(0, 1);
  }
  r.wild = pattern.find_first_of("*?[") != std::string::npos;
  r.wild2 = r.wild && pattern.find("**") != std::string::npos;
  r.wild2_prefix = r.wild2 && pattern.compare(0, 2, "**") == 0;
  r.wild3_suffix = r.wild2 && pattern.size() >= 4 && pattern.compare(pattern.size() - 4, 4, "/***") == 0;
  for (char c : pattern) r.slashes += c == '/';
  if (r.anchored) ++r.slashes;
  r.pattern = std::move(pattern);
  return r;
}

bool match_at(const Rule& r, const std::string& text) {
  return r.wild ? dowild(r.pattern.c_str(), text.c_str()) == kTrue : text == r.pattern;
}

// rsync's rule_matches for `rel` (relative to the root, no trailing "/").
bool rule_matches(const Rule& r, const std::string& rel, bool is_dir) {
  if (rel.empty()) return false;
  if (r.dir_only && !is_dir) return false;
  std::string text = rel;
  if (r.anchored && !r.base.empty()) text = rel.substr(r.base.size() + 1);
  int where = 0;  // 0: at the start; n > 0: the last n components; -1: after any "/"
  if (!r.anchored && r.slashes == 0 && !r.wild2) {
    text = text.substr(text.rfind('/') + 1);
  } else if (!r.anchored && r.wild2_prefix) {
    text.insert(0, "/");  // "**/x" matches "x" at the top
  } else if (!r.anchored && r.wild2) {
    where = -1;
  } else if (!r.anchored) {
    where = r.slashes + 1;
  }
  if (is_dir && r.wild3_suffix) text += "/";  // "dir/***" matches "dir"
  if (where == 0) return match_at(r, text);
  if (where > 0) {
    std::size_t start = 0;
    int seen = 0;
    for (std::size_t i = text.size(); i-- > 0;)
      if (text[i] == '/' && ++seen == where) {
        start = i + 1;
        break;
      }
    return match_at(r, text.substr(start));
  }
  if (match_at(r, text)) return true;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '/' && match_at(r, text.substr(i + 1))) return true;
  return false;
}

std::vector<std::shared_ptr<const Rule>> read_merge_file(const std::string& path,
                                                         const std::string& base) {
  std::vector<std::shared_ptr<const Rule>> out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return out;
  if (static_cast<std::size_t>(st.st_size) > kMaxMergeFileBytes)
    throw Error(ErrorCode::invalid_argument, "rsync_filter file " + path + " is larger than " +
                                                 std::to_string(kMaxMergeFileBytes) + " bytes");
  const std::string text = read_file(path, kMaxMergeFileBytes);
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find_first_of("\r\n", at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    try {
      out.push_back(std::make_shared<const Rule>(make_rule(line, false, base)));
    } catch (const Error& e) {
      throw Error(ErrorCode::invalid_argument, path + ": " + e.what());
    }
  }
  return out;
}

bool is_dir_following(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

bool rsync_wildmatch(const std::string& pattern, const std::string& text) {
  check_bounds(pattern);
  return dowild(pattern.c_str(), text.c_str()) == kTrue;
}

RsyncRules::RsyncRules(const std::vector<std::string>& excludes,
                       const std::vector<std::string>& merge_files)
    : merge_files_(merge_files) {
  for (const auto& e : excludes) {
    if (e == "!") {
      rules_.clear();
      continue;
    }
    bool include = false;
    std::string pattern = e;
    if (pattern.compare(0, 2, "+ ") == 0 || pattern.compare(0, 2, "- ") == 0) {
      include = pattern[0] == '+';
      pattern.erase(0, 2);
    }
    if (pattern.empty()) continue;
    rules_.push_back(std::make_shared<const Rule>(make_rule(pattern, include, "")));
  }
  for (const auto& m : merge_files_)
    if (m.empty() || m.find('/') != std::string::npos)
      throw Error(ErrorCode::invalid_argument,
                  "rsync_filter names a file to look for in each folder; '" + m + "' is not a file name");
}

bool RsyncRules::empty() const { return rules_.empty() && merge_files_.empty(); }

bool RsyncRules::keeps_file(const std::string& name) const {
  for (const auto& r : rules_)
    if (rule_matches(*r, name, false)) return r->include;
  return true;
}

std::vector<std::string> RsyncRules::kept(const std::string& root) const {
  struct Frame {
    std::string rel;  // "" for the root
    std::vector<std::shared_ptr<const Rule>> merged;  // this folder's first, then inherited
  };
  std::vector<std::string> out;
  std::vector<Frame> stack;
  stack.push_back({"", {}});
  std::size_t seen = 0;
  while (!stack.empty()) {
    Frame f = std::move(stack.back());
    stack.pop_back();
    const std::string dir = f.rel.empty() ? root : root + "/" + f.rel;
    std::vector<std::shared_ptr<const Rule>> merged;
    for (const auto& name : merge_files_) {
      auto own = read_merge_file(dir + "/" + name, f.rel);
      merged.insert(merged.end(), own.begin(), own.end());
    }
    merged.insert(merged.end(), f.merged.begin(), f.merged.end());
    std::vector<std::string> names = list_dir(dir);
    std::sort(names.begin(), names.end());
    std::vector<Frame> below;
    for (const auto& name : names) {
      if (++seen > kMaxEntries)
        throw Error(ErrorCode::invalid_argument, "file mount " + root + " has more than " +
                                                     std::to_string(kMaxEntries) + " entries");
      const std::string rel = f.rel.empty() ? name : f.rel + "/" + name;
      const bool is_dir = is_dir_following(root + "/" + rel);
      bool excluded = false, decided = false;
      for (const auto& r : rules_)
        if (rule_matches(*r, rel, is_dir)) {
          excluded = !r->include;
          decided = true;
          break;
        }
      if (!decided)
        for (const auto& r : merged)
          if (rule_matches(*r, rel, is_dir)) {
            excluded = true;
            break;
          }
      if (excluded) continue;
      out.push_back(is_dir ? rel + "/" : rel);
      if (is_dir) below.push_back({rel, merged});
    }
    for (auto it = below.rbegin(); it != below.rend(); ++it) stack.push_back(std::move(*it));
  }
  return out;
}

FilteredTree::FilteredTree(const std::string& root, const RsyncRules& rules) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/rc-mount-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw Error(ErrorCode::io, "cannot make a folder for " + root + " without its excluded files: " +
                                   std::strerror(errno));
  base_ = tmpl;
  path_ = base_ + "/m";
  try {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0)
      throw Error(ErrorCode::io, "cannot read " + root + ": " + std::strerror(errno));
    make_dirs(path_, st.st_mode & 07777);
    ::chmod(path_.c_str(), st.st_mode & 07777);
    const auto keep = rules.kept(root);
    for (const auto& rel : keep) {
      const bool dir = rel.back() == '/';
      const std::string name = dir ? rel.substr(0, rel.size() - 1) : rel;
      const std::string src = root + "/" + name, dst = path_ + "/" + name;
      if (::stat(src.c_str(), &st) != 0)
        throw Error(ErrorCode::io, "cannot read " + src + ": " + std::strerror(errno));
      if (dir) {
        if (::mkdir(dst.c_str(), st.st_mode & 07777) != 0 && errno != EEXIST)
          throw Error(ErrorCode::io, "cannot make " + dst + ": " + std::strerror(errno));
        ::chmod(dst.c_str(), st.st_mode & 07777);
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;  // as the uploads: regular files only
      if (::linkat(AT_FDCWD, src.c_str(), AT_FDCWD, dst.c_str(), AT_SYMLINK_FOLLOW) == 0) continue;
      std::error_code ec;
      std::filesystem::copy_file(src, dst, ec);
      if (ec) throw Error(ErrorCode::io, "cannot copy " + src + ": " + ec.message());
      ::chmod(dst.c_str(), st.st_mode & 07777);
    }
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(base_, ec);
    throw;
  }
}

FilteredTree::~FilteredTree() {
  std::error_code ec;
  std::filesystem::remove_all(base_, ec);
}

}  // namespace raycluster::detail
