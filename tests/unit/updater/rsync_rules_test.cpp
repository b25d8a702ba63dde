// The file-mount filter (lib/updater/rsync_rules.*) against real rsync: each
// case makes a tree, asks `rsync -a --dry-run` with Ray's arguments
// (--exclude P ... --filter 'dir-merge,- NAME' ...) which entries it would
// copy, and compares that set with RsyncRules::kept(). rsync is the
// reference, so no expected set is written here by hand.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "updater/rsync_rules.hpp"
#include "util/error.hpp"

using raycluster::detail::FilteredTree;
using raycluster::detail::RsyncRules;

namespace fs = std::filesystem;

namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Tree {
  fs::path dir;
  Tree() {
    char tmpl[] = "/tmp/rc_rsync_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    fs::create_directories(dir / "src");
  }
  ~Tree() { fs::remove_all(dir); }
  fs::path root() const { return dir / "src"; }
  // "a/b/" a folder, "a/b/c" a file (its folders made), with `text`.
  void add(const std::string& rel, const std::string& text = "x\n") {
    if (rel.back() == '/') {
      fs::create_directories(root() / rel);
      return;
    }
    fs::create_directories((root() / rel).parent_path());
    std::ofstream(root() / rel) << text;
  }
};

std::set<std::string> rsync_kept(const Tree& t, const std::vector<std::string>& excludes,
                                 const std::vector<std::string>& filters) {
  REQUIRE_MESSAGE(::system("command -v rsync >/dev/null 2>&1") == 0,
                  "rsync is the reference of this test: install it (scripts/setup.sh does)");
  std::string cmd = "rsync -a --dry-run --out-format='%n'";
  for (const auto& e : excludes) cmd += " --exclude " + quote(e);
  for (const auto& f : filters) cmd += " --filter " + quote("dir-merge,- " + f);
  cmd += " " + quote(t.root().string() + "/") + " " + quote((t.dir / "dst").string() + "/") + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::set<std::string> out;
  std::string all;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string line = buf;
    all += line;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (line == "./" || line.empty()) continue;
    out.insert(line);
  }
  int rc = ::pclose(p);
  const bool exited_0 = WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
  const std::string said = cmd + "\n" + all;
  REQUIRE_MESSAGE(exited_0, said);
  return out;
}

std::set<std::string> ours(const Tree& t, const std::vector<std::string>& excludes,
                           const std::vector<std::string>& filters) {
  auto v = RsyncRules(excludes, filters).kept(t.root().string());
  return {v.begin(), v.end()};
}

std::string show(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "[" + x + "] ";
  return s;
}

void compare(const Tree& t, const std::vector<std::string>& excludes,
             const std::vector<std::string>& filters = {}) {
  auto want = rsync_kept(t, excludes, filters);
  auto got = ours(t, excludes, filters);
  INFO("excludes: " << show(excludes) << " filters: " << show(filters));
  std::vector<std::string> missing, extra;
  for (const auto& w : want)
    if (!got.count(w)) missing.push_back(w);
  for (const auto& g : got)
    if (!want.count(g)) extra.push_back(g);
  CHECK_MESSAGE(missing.empty(), "rsync copies, we leave out: " << show(missing));
  CHECK_MESSAGE(extra.empty(), "rsync leaves out, we copy: " << show(extra));
}

void project_tree(Tree& t) {
  for (const char* p : {".git/HEAD", ".git/objects/x", "a/.git/y", "a/b/c/d.py", "a/b/c/e.log",
                        "top.log", "build/o", "a/build/o", "a/b/keep.txt", "a/b/!neg",
                        "a/b/- k", "data/set[1].csv", "data/set2.csv", "a/b/c/deep/er/f.py", "empty/"})
    t.add(p);
}

}  // namespace

TEST_CASE("rsync rules: rsync_exclude patterns match as rsync --exclude matches them") {
  Tree t;
  project_tree(t);
  const std::vector<std::vector<std::string>> cases = {
      {"**/.git", "**/.git/**"},  // Ray's example config
      {"*.log"},
      {"/build/"},
      {"build/"},
      {"build"},
      {"b/*"},
      {"a/b/"},
      {"/a/b/c/*.py"},
      {"a/**/c"},
      {"a/**/*.py"},
      {"*/c/"},
      {"a/***"},
      {"[ab]"},
      {"[!a]*"},
      {"**.log"},
      {"**/top.log"},
      {"/a/**"},
      {"d?ta"},
      {"set\\[1\\].csv"},
      {"set[1].csv"},
      {"+ top.log", "*.log"},
      {"o", "+ build/o"},
      {"a/", "+ a/b/"},
      {"- a"},
      {"*.log", "!", "*.py"},
      {"c/deep/er"},
      {"**/er/**"},
      {"a/b/c/deep/er/f.py"},
      {"/top.log"},
      {"empty/"},
      {"*"},
      {"**"},
  };
  for (const auto& c : cases) compare(t, c);
}

TEST_CASE("rsync rules: dir-merge files apply to their folder and below, anchored there") {
  Tree t;
  project_tree(t);
  t.add(".gitignore", "top.log\n");
  t.add("a/.gitignore", "*.log\n!e.log\n/build/\n# comment\n; another\n\nb/c/*.py\n- keep.txt\n");
  compare(t, {}, {".gitignore"});
  compare(t, {"**/.git"}, {".gitignore"});
  compare(t, {"+ top.log"}, {".gitignore"});
  // Lines are patterns as written: spaces kept, "!" and "- " not special.
  t.add("a/b/.gitignore", " keep.txt\n!neg\n- k\n!\n/c/deep/\n");
  compare(t, {}, {".gitignore"});
  // Two merge file names; one of them excluding the other.
  t.add("data/.rsignore", "set2.csv\n/*.csv\n");
  compare(t, {}, {".gitignore", ".rsignore"});
  compare(t, {".rsignore"}, {".rsignore"});
  // A merge file in an excluded folder is never read.
  compare(t, {"a/"}, {".gitignore"});
}

TEST_CASE("rsync rules: seeded random trees and patterns agree with rsync") {
  const std::vector<std::string> names = {"a", "b", "c", "x.log", "y.py", ".git", "build", "d-1"};
  const std::vector<std::string> atoms = {"a", "b", "*", "**", "?", "x.log", "*.py", "[ab]", ".git",
                                          "build", "d-*", "[!a]"};
  std::mt19937 rng(20261203);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto pattern = [&] {
    std::string p = rng() % 4 == 0 ? "/" : "";
    int parts = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < parts; ++i) p += (i ? "/" : "") + pick(atoms);
    if (rng() % 4 == 0) p += "/";
    return p;
  };
  for (int round = 0; round < 60; ++round) {
    Tree t;
    int files = 6 + static_cast<int>(rng() % 10);
    for (int i = 0; i < files; ++i) {
      std::string rel;
      int depth = 1 + static_cast<int>(rng() % 4);
      for (int d = 0; d < depth; ++d) rel += (d ? "/" : "") + pick(names);
      std::error_code ec;
      if (fs::is_directory(t.root() / rel, ec)) continue;
      bool blocked = false;  // a file already where a folder should go
      for (auto p = fs::path(rel).parent_path(); !p.empty(); p = p.parent_path())
        blocked = blocked || fs::is_regular_file(t.root() / p, ec);
      if (!blocked) t.add(rel);
    }
    std::vector<std::string> excludes;
    for (int i = static_cast<int>(rng() % 3); i > 0; --i)
      excludes.push_back((rng() % 5 == 0 ? "+ " : "") + pattern());
    std::vector<std::string> filters;
    if (rng() % 2) {
      filters.push_back(".ign");
      for (const auto& dir : {std::string(), pick(names) + "/"}) {
        std::error_code ec;
        if (!fs::is_directory(t.root() / dir, ec)) continue;
        std::string text;
        for (int i = 1 + static_cast<int>(rng() % 2); i > 0; --i) text += pattern() + "\n";
        t.add(dir + ".ign", text);
      }
    }
    compare(t, excludes, filters);
  }
}

TEST_CASE("rsync rules: a single file mount is matched by its name") {
  RsyncRules rules({"*.log", "+ keep.tmp", "*.tmp"}, {".gitignore"});
  CHECK_FALSE(rules.keeps_file("x.log"));
  CHECK(rules.keeps_file("keep.tmp"));
  CHECK_FALSE(rules.keeps_file("other.tmp"));
  CHECK(rules.keeps_file("run.sh"));
  CHECK(RsyncRules({}, {}).empty());
  CHECK_FALSE(RsyncRules({}, {".gitignore"}).empty());
}

TEST_CASE("rsync rules: bounds and bad filter names are refused with the reason") {
  CHECK_THROWS_WITH_AS(RsyncRules({std::string(2000, 'a')}, {}), doctest::Contains("longer than"),
                       raycluster::Error);
  std::string stars;
  for (int i = 0; i < 40; ++i) stars += "*a";
  CHECK_THROWS_WITH_AS(RsyncRules({stars}, {}), doctest::Contains("runs of '*'"), raycluster::Error);
  CHECK_THROWS_WITH_AS(RsyncRules({}, {"sub/.gitignore"}), doctest::Contains("not a file name"),
                       raycluster::Error);
}

TEST_CASE("rsync rules: the filtered copy holds exactly what is kept, with modes") {
  Tree t;
  project_tree(t);
  t.add("a/.gitignore", "*.log\n");
  fs::permissions(t.root() / "a/b/c/d.py", fs::perms::owner_all);
  fs::permissions(t.root() / "a/b", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  std::string base;
  {
    RsyncRules rules({"**/.git"}, {".gitignore"});
    FilteredTree copy(t.root().string(), rules);
    base = fs::path(copy.path()).parent_path().string();
    std::set<std::string> in_copy;
    for (auto it = fs::recursive_directory_iterator(copy.path()); it != fs::recursive_directory_iterator(); ++it) {
      std::string rel = fs::relative(it->path(), copy.path()).generic_string();
      in_copy.insert(it->is_directory() ? rel + "/" : rel);
    }
    CHECK(in_copy == rsync_kept(t, {"**/.git"}, {".gitignore"}));
    struct stat st {};
    REQUIRE(::stat((copy.path() + "/a/b/c/d.py").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    REQUIRE(::stat((copy.path() + "/a/b").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
  }
  CHECK_FALSE(fs::exists(base));  // removed with the object
}
