#include "util/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string_view>
#include <thread>
#include <chrono>

#include "util/error.hpp"

namespace raycluster::detail {
namespace {

[[noreturn]] void io_error(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorCode::io, what + " " + path + ": " + std::strerror(err));
}

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // forever. Only regular files are read, so the flag changes nothing else.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) io_error("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    io_error("cannot read", path, e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                                              : "not a regular file";
    throw Error(ErrorCode::io, "cannot read " + path + ": it is " + kind);
  }
  if (st.st_size > 0 && static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    throw Error(ErrorCode::io, path + " is " + std::to_string(st.st_size) +
                                   " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      io_error("cannot read", path, e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      throw Error(ErrorCode::io, path + " is larger than the limit of " + std::to_string(max_bytes) +
                                     " bytes");
    }
  }
  ::close(fd);
  return out;
}

namespace {

// Removes `<path>.tmp.<pid>.<n>` files of processes that no longer exist: a
// writer killed between create and rename leaves one behind.
void remove_stale_temps(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string prefix = p.filename().string() + ".tmp.";
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = name.substr(prefix.size());
    std::size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos) continue;
    long pid = 0;
    bool digits = true;
    for (char c : rest.substr(0, dot)) {
      if (c < '0' || c > '9' || pid > 100000000) digits = false;
      else pid = pid * 10 + (c - '0');
    }
    if (!digits || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    ::unlink((dir + "/" + std::string(name)).c_str());
  }
  ::closedir(d);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
  remove_stale_temps(path);
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) io_error("cannot create", tmp, errno);
  ::fchmod(fd, mode);  // umask must not widen or narrow what the caller asked for
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      io_error("cannot write", tmp, e);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    io_error("cannot write", tmp, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    io_error("cannot rename into", path, e);
  }
}

void make_dirs(const std::string& path, mode_t mode) {
  // Every folder made here gets `mode`, the parents too: a state root made
  // on the way to a cluster's 0700 folder must not be left 0755.
  std::filesystem::path built;
  for (const auto& part : std::filesystem::path(path).lexically_normal()) {
    built /= part;
    if (part.empty() || part == "/") continue;
    if (::mkdir(built.c_str(), mode) == 0) {
      ::chmod(built.c_str(), mode);  // mkdir's mode is masked by the umask
    } else if (errno != EEXIST) {
      throw Error(ErrorCode::io, "cannot create folder " + built.string() + ": " +
                                     std::strerror(errno));
    }
  }
  if (!is_directory(path)) throw Error(ErrorCode::io, "cannot create folder " + path + ": " +
                                                       "a file of that name is in the way");
  ::chmod(path.c_str(), mode);
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  // A file another process removes while the tree is walked (a process
  // ending, a socket unlinked) fails the walk with ENOENT: walk again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    ec.clear();
    std::filesystem::remove_all(path, ec);
    if (ec != std::errc::no_such_file_or_directory) break;
  }
  if (ec) throw Error(ErrorCode::io, "cannot remove " + path + ": " + ec.message());
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), R_OK) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  if (auto* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  throw Error(ErrorCode::io, "cannot find the home folder: HOME is not set");
}

FileLock::FileLock(const std::string& path, bool wait) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) io_error("cannot open lock", path, errno);
  int op = LOCK_EX | (wait ? 0 : LOCK_NB);
  // A child forked by another thread holds a copy of a lock's descriptor
  // until it execs, so a lock released a moment ago can still look taken:
  // a held lock must stay held for a second before it counts as a conflict.
  auto patience = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (::flock(fd_, op) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && std::chrono::steady_clock::now() < patience) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int e = errno;
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK)
      throw Error(ErrorCode::conflict,
                  "another raycluster process is changing this cluster (lock " + path + ")");
    io_error("cannot lock", path, e);
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace raycluster::detail
