#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster::detail;

namespace {
std::string temp_dir() {
  char tmpl[] = "/tmp/rc-fs-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}
}  // namespace

TEST_CASE("atomic write replaces content and sets the mode") {
  auto dir = temp_dir();
  auto path = dir + "/f.json";
  write_file_atomic(path, "one", 0600);
  write_file_atomic(path, "two", 0600);
  CHECK(read_file(path) == "two");
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(list_dir(dir).size() == 1);  // no temp file left behind
  remove_tree(dir);
  CHECK_FALSE(path_exists(dir));
}

TEST_CASE("read_file refuses files over the limit and names the path") {
  auto dir = temp_dir();
  auto path = dir + "/big";
  write_file_atomic(path, std::string(1000, 'x'));
  try {
    read_file(path, 100);
    FAIL("expected an error");
  } catch (const raycluster::Error& e) {
    CHECK(std::string(e.what()).find(path) != std::string::npos);
  }
  CHECK_THROWS_AS(read_file(dir + "/missing"), raycluster::Error);
  remove_tree(dir);
}

TEST_CASE("read_file refuses a FIFO at once instead of waiting for a writer") {
  auto dir = temp_dir();
  auto fifo = dir + "/cluster.yaml";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  try {
    read_file(fifo);  // blocked in open() forever before
    FAIL("expected an error");
  } catch (const raycluster::Error& e) {
    CHECK(std::string(e.what()) == "cannot read " + fifo + ": it is a FIFO");
  }
  try {
    read_file(dir);
    FAIL("expected an error");
  } catch (const raycluster::Error& e) {
    CHECK(std::string(e.what()).find("it is a directory") != std::string::npos);
  }
  CHECK_THROWS_AS(read_file("/dev/zero"), raycluster::Error);  // would never end
  remove_tree(dir);
}

TEST_CASE("make_dirs gives the folders it makes, parents too, the mode asked for") {
  auto dir = temp_dir();
  const std::string leaf = dir + "/root/cluster";
  make_dirs(leaf, 0700);
  struct stat st {};
  REQUIRE(stat((dir + "/root").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);  // was 0755: the state root
  REQUIRE(stat(leaf.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);  // mkdtemp's own, left as it was
  make_dirs(leaf, 0700);  // again: nothing to do
  write_file_atomic(dir + "/file", "x");
  CHECK_THROWS_AS(make_dirs(dir + "/file", 0700), raycluster::Error);
  remove_tree(dir);
}

TEST_CASE("an atomic write removes temp files that killed writers left, and no others") {
  auto dir = temp_dir();
  const std::string path = dir + "/cluster.json";
  // A pid that cannot be running: a child that has been waited for.
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  REQUIRE(dead > 0);
  int status = 0;
  REQUIRE(waitpid(dead, &status, 0) == dead);
  const std::string stale = path + ".tmp." + std::to_string(dead) + ".123";
  const std::string live = path + ".tmp." + std::to_string(getpid()) + ".456";
  const std::string other = dir + "/other.json.tmp." + std::to_string(dead) + ".1";
  for (const auto& f : {stale, live, other}) write_file_atomic(f, "partial");
  write_file_atomic(path, "{}");
  CHECK_FALSE(path_exists(stale));
  CHECK(path_exists(live));   // its writer may still rename it
  CHECK(path_exists(other));  // another file's
  CHECK(read_file(path) == "{}");
  remove_tree(dir);
}

TEST_CASE("a second lock on the same file conflicts") {
  auto dir = temp_dir();
  {
    FileLock first(dir + "/lock", false);
    // flock locks belong to the open file description, so a second open in
    // the same process conflicts just as another process would.
    CHECK_THROWS_AS(FileLock(dir + "/lock", false), raycluster::Error);
  }
  FileLock again(dir + "/lock", false);  // released on destruction
  remove_tree(dir);
}
