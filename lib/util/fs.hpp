// File system helpers. Writes that others read are atomic (temp file in the
// same folder, fsync, rename), so a crash leaves the old or the new content.
#pragma once

#include <string>
#include <vector>
#include <sys/types.h>

namespace raycluster::detail {

// Throws Error(io) naming the path. max_bytes: refuse larger files.
std::string read_file(const std::string& path, std::size_t max_bytes = SIZE_MAX);
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode = 0644);
// mkdir -p; existing folders are fine.
void make_dirs(const std::string& path, mode_t mode = 0755);
// rm -rf; missing is fine.
void remove_tree(const std::string& path);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// True for a regular file (after following links) that this process may read.
bool is_regular_file(const std::string& path);
// Names in a folder (not . and ..); empty when missing.
std::vector<std::string> list_dir(const std::string& path);
// $HOME, else the passwd entry.
std::string home_dir();

// An exclusive advisory lock on a file, released on destruction (or when the
// process dies, so a kill -9 never leaves a stale lock).
class FileLock {
 public:
  // Throws Error(conflict) when another process holds it and wait is false
  // (after up to a second: see the note on fork in fs.cpp).
  FileLock(const std::string& path, bool wait);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace raycluster::detail
