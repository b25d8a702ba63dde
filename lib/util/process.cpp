#include "util/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "util/error.hpp"
#include "util/strings.hpp"

extern char** environ;

namespace raycluster::detail {
namespace {

using Clock = std::chrono::steady_clock;

struct LineSplitter {
  std::string buf;
  bool is_stderr = false;
  void feed(const char* data, std::size_t n, const ProcessSpec& spec,
            std::deque<std::string>& tail, std::size_t tail_max) {
    buf.append(data, n);
    std::size_t start = 0;
    for (;;) {
      auto nl = buf.find('\n', start);
      if (nl == std::string::npos) break;
      emit(std::string_view(buf).substr(start, nl - start), spec, tail, tail_max);
      start = nl + 1;
    }
    buf.erase(0, start);
    // A line longer than 64 KiB is passed on in pieces.
    if (buf.size() > 65536) {
      emit(buf, spec, tail, tail_max);
      buf.clear();
    }
  }
  void flush(const ProcessSpec& spec, std::deque<std::string>& tail, std::size_t tail_max) {
    if (!buf.empty()) emit(buf, spec, tail, tail_max);
    buf.clear();
  }
  void emit(std::string_view line, const ProcessSpec& spec, std::deque<std::string>& tail,
            std::size_t tail_max) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (spec.on_line) spec.on_line(line, is_stderr);
    tail.emplace_back(line);
    while (tail.size() > tail_max) tail.pop_front();
  }
};

void kill_session(pid_t sid, int sig) {
  // The leader's process group covers the usual case; the scan catches
  // children that made their own groups inside the session.
  ::kill(-sid, sig);
  for (const auto& p : list_processes())
    if (p.session == sid) ::kill(p.pid, sig);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// What the child needs, prepared before fork: after fork only
// async-signal-safe calls are allowed in a threaded program.
struct ChildImage {
  explicit ChildImage(const ProcessSpec& spec);
  ChildImage(const ChildImage&) = delete;
  ChildImage& operator=(const ChildImage&) = delete;

  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  std::vector<std::string> argv_copy;
  std::vector<char*> argv;
  std::string exe;
};

ChildImage::ChildImage(const ProcessSpec& spec) {
  std::map<std::string, std::string> envmap;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    envmap[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : spec.env) envmap[k] = v;
  env_strings.reserve(envmap.size());
  for (const auto& [k, v] : envmap) env_strings.push_back(k + "=" + v);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  argv_copy = spec.argv;
  for (auto& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  // Resolve argv[0] through PATH now (execvpe would read PATH after fork).
  exe = argv_copy[0];
  if (exe.find('/') == std::string::npos) {
    std::string path = envmap.count("PATH") ? envmap["PATH"] : "/usr/bin:/bin";
    for (const auto& dir : split(path, ':')) {
      std::string cand = (dir.empty() ? "." : dir) + "/" + exe;
      if (::access(cand.c_str(), X_OK) == 0) {
        exe = cand;
        break;
      }
    }
  }
}

// In a forked child: stdin from devnull, stdout and stderr to the pipes,
// signals as a new program expects them, then the command. Only
// async-signal-safe calls: the parent may have threads.
[[noreturn]] void exec_child(const ChildImage& image, const char* cwd, int devnull, int out_w,
                             int err_w) {
  if (devnull >= 0) ::dup2(devnull, 0);
  ::dup2(out_w, 1);
  ::dup2(err_w, 2);
  // Undo the parent's signal dispositions: a command must see SIGINT/SIGPIPE normally.
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD}) ::sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (cwd && ::chdir(cwd) != 0) ::_exit(126);
  ::execve(image.exe.c_str(), image.argv.data(), image.envp.data());
  ::_exit(127);
}

// Closes every descriptor but the kept ones (at most 8), so that a keeper
// holds no lock, socket or pipe of the program that forked it.
void close_all_but(int* keep, int n) {
  std::sort(keep, keep + n);  // no allocation: fine after fork
  unsigned lo = 3;
  for (int i = 0; i < n; ++i) {
    if (keep[i] < static_cast<int>(lo)) continue;
    if (static_cast<unsigned>(keep[i]) > lo) {
      if (::close_range(lo, static_cast<unsigned>(keep[i]) - 1, 0) != 0)
        for (unsigned fd = lo; fd < static_cast<unsigned>(keep[i]); ++fd) ::close(static_cast<int>(fd));
    }
    lo = static_cast<unsigned>(keep[i]) + 1;
  }
  if (::close_range(lo, ~0u, 0) != 0) {
    struct rlimit rl {};
    unsigned top = 65536;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top) top = static_cast<unsigned>(rl.rlim_cur);
    for (unsigned fd = lo; fd < top; ++fd) ::close(static_cast<int>(fd));
  }
}

// fork() without the atfork handlers and sanitizer interceptors it runs,
// for forks inside an already forked child of a threaded program: a lock
// another thread of that program held when it forked stays held there
// forever, and a handler that takes it hangs.
pid_t raw_fork() { return static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, nullptr, nullptr, 0)); }

void write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool read_all(int fd, void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// The pipes between run_process and a keeper: out and err carry the
// command's output; status carries the keeper's pid, then the command's
// wait status; go tells the keeper to start the command.
struct KeeperPipes {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, status[2] = {-1, -1}, go[2] = {-1, -1};
  int devnull = -1;
  ~KeeperPipes() {
    for (int* p : {out, err, status, go})
      for (int i = 0; i < 2; ++i)
        if (p[i] >= 0) ::close(p[i]);
    if (devnull >= 0) ::close(devnull);
  }
  static int take(int& fd) {
    int f = fd;
    fd = -1;
    return f;
  }
};

// The keeper (see ProcessSpec::contain), in a forked child; async-signal-safe.
[[noreturn]] void keeper_main(const ChildImage& image, const char* cwd, KeeperPipes& p) {
  ::setsid();
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  struct sigaction ign {}, dfl {};
  ign.sa_handler = SIG_IGN;
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(sig, &ign, nullptr);
  ::sigaction(SIGCHLD, &dfl, nullptr);  // SIG_IGN would reap the command before we see its status
  int keep[] = {p.out[1], p.err[1], p.status[1], p.go[0], p.devnull};
  close_all_but(keep, 5);
  pid_t me = ::getpid();
  write_all(p.status[1], &me, sizeof me);
  char go = 0;
  if (!read_all(p.go[0], &go, 1)) ::_exit(0);  // run_process gave up: run nothing
  ::close(p.go[0]);
  pid_t cmd = raw_fork();
  if (cmd == 0) exec_child(image, cwd, p.devnull, p.out[1], p.err[1]);
  if (p.devnull >= 0)
    for (int fd = 0; fd < 3; ++fd) ::dup2(p.devnull, fd);
  ::close(p.out[1]);
  ::close(p.err[1]);
  int st = 127 << 8;
  if (cmd < 0) write_all(p.status[1], &st, sizeof st);
  for (;;) {
    pid_t r = ::waitpid(-1, &st, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;  // no child left
    if (r == cmd) {
      write_all(p.status[1], &st, sizeof st);
      ::close(p.status[1]);
    }
  }
  ::_exit(0);
}

// Starts a keeper (through a short-lived middle process, so that the keeper
// is nobody's child here and never waits as a zombie for us), hands its pid
// to on_started and then lets it run the command. Returns the keeper's pid;
// out_fd, err_fd and status_fd are the read ends of its pipes.
pid_t start_contained(const ProcessSpec& spec, const ChildImage& image, int& out_fd, int& err_fd,
                      int& status_fd) {
  KeeperPipes p;
  for (int* fds : {p.out, p.err, p.status, p.go})
    if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(ErrorCode::io, "pipe failed");
  p.devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  pid_t middle = ::fork();
  if (middle < 0) throw Error(ErrorCode::io, std::string("fork failed: ") + std::strerror(errno));
  if (middle == 0) {
    pid_t k = raw_fork();
    if (k == 0) keeper_main(image, cwd, p);
    ::_exit(k < 0 ? 1 : 0);
  }
  int mst = 0;
  while (::waitpid(middle, &mst, 0) < 0 && errno == EINTR) {
  }
  ::close(KeeperPipes::take(p.out[1]));
  ::close(KeeperPipes::take(p.err[1]));
  ::close(KeeperPipes::take(p.status[1]));
  ::close(KeeperPipes::take(p.go[0]));
  pid_t keeper = 0;
  if (!read_all(p.status[0], &keeper, sizeof keeper) || keeper <= 0)
    throw Error(ErrorCode::io, "could not start a process to keep the command's processes");
  if (spec.on_started) spec.on_started(keeper);  // throws: p closes go, the keeper runs nothing
  write_all(p.go[1], "g", 1);
  out_fd = KeeperPipes::take(p.out[0]);
  err_fd = KeeperPipes::take(p.err[0]);
  status_fd = KeeperPipes::take(p.status[0]);
  return keeper;
}

// Forks and execs the child in a session of its own, stdin from /dev/null,
// stdout and stderr into pipes; returns its pid and sets the pipes' read ends.
pid_t start_child(const ProcessSpec& spec, const ChildImage& image, int& out_fd, int& err_fd) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(ErrorCode::io, "pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw Error(ErrorCode::io, "pipe failed");
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(out_pipe[0]); ::close(out_pipe[1]); ::close(err_pipe[0]); ::close(err_pipe[1]);
    if (devnull >= 0) ::close(devnull);
    throw Error(ErrorCode::io, std::string("fork failed: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::setsid();
    exec_child(image, cwd, devnull, out_pipe[1], err_pipe[1]);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (devnull >= 0) ::close(devnull);
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  return pid;
}

// The child as run_process watches it: whether and when it exited, and
// whether it is being stopped. A contained command reports its wait status
// through status_fd (its keeper is not our child); others through waitpid.
struct ChildWatch {
  pid_t pid = -1;
  int status_fd = -1;
  Clock::time_point start = Clock::now();
  bool exited = false;
  int status = 0;
  Clock::time_point exited_at{};
  bool killing = false;
  Clock::time_point kill_sent{};

  void check_exit() {
    if (exited || status_fd >= 0) return;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      exited = true;
      exited_at = Clock::now();
    }
  }
  // The status pipe is readable: the command's wait status, or end of file
  // when the keeper was killed before it could tell (read as SIGKILL).
  void read_status() {
    if (!read_all(status_fd, &status, sizeof status)) status = SIGKILL;
    ::close(status_fd);
    status_fd = -1;
    exited = true;
    exited_at = Clock::now();
  }
  void wait_blocking() {
    if (status_fd >= 0) {
      read_status();
    } else if (!exited) {
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  void signal(int sig, bool contained) {
    if (contained) {
      ProcessScope scope{{pid}, {{pid, 0}}};
      for (pid_t p : processes_in_scope(scope))
        if (p != pid) ::kill(p, sig);  // the keeper stays to gather what is left
    } else {
      kill_session(pid, sig);
    }
  }

  // On timeout or cancel: SIGTERM to the child's processes, SIGKILL after 3 s.
  void stop_if_due(const ProcessSpec& spec, ProcessResult& result) {
    if (!exited && !killing) {
      bool over = spec.timeout.count() > 0 && Clock::now() - start >= spec.timeout;
      bool cancel = spec.cancel.cancelled();
      if (over || cancel) {
        result.timed_out = over;
        result.cancelled = cancel && !over;
        signal(SIGTERM, spec.contain);
        killing = true;
        kill_sent = Clock::now();
      }
    } else if (!exited && killing && Clock::now() - kill_sent > std::chrono::seconds(3)) {
      signal(SIGKILL, spec.contain);
    }
  }
};

// Passes the child's output on line by line (and keeps its tail) until it
// has exited and closed both pipes, or spec.drain after its exit.
void pump_output(const ProcessSpec& spec, ChildWatch& child, int out_fd, int err_fd,
                 ProcessResult& result, std::deque<std::string>& tail) {
  LineSplitter split_out, split_err;
  split_err.is_stderr = true;
  int fds[2] = {out_fd, err_fd};
  LineSplitter* splitters[2] = {&split_out, &split_err};
  bool open_fd[2] = {true, true};

  for (;;) {
    child.check_exit();
    if (child.exited && ((!open_fd[0] && !open_fd[1]) || Clock::now() - child.exited_at >= spec.drain))
      break;
    child.stop_if_due(spec, result);
    struct pollfd pfd[3];
    nfds_t n = 0;
    int idx[3];
    for (int i = 0; i < 2; ++i)
      if (open_fd[i]) {
        pfd[n] = {fds[i], POLLIN, 0};
        idx[n++] = i;
      }
    if (child.status_fd >= 0) {
      pfd[n] = {child.status_fd, POLLIN, 0};
      idx[n++] = 2;
    }
    if (n == 0) {
      if (!child.exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int pr = ::poll(pfd, n, 50);
    if (pr < 0 && errno != EINTR) break;
    for (nfds_t k = 0; k < n && pr > 0; ++k) {
      if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int i = idx[k];
      if (i == 2) {
        child.read_status();
        continue;
      }
      char buf[16384];
      ssize_t got = ::read(fds[i], buf, sizeof buf);
      if (got > 0) {
        splitters[i]->feed(buf, static_cast<std::size_t>(got), spec, tail, spec.tail_lines);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        open_fd[i] = false;
      }
    }
  }
  split_out.flush(spec, tail, spec.tail_lines);
  split_err.flush(spec, tail, spec.tail_lines);
}

}  // namespace

ProcessResult run_process(const ProcessSpec& spec) {
  if (spec.argv.empty()) throw Error(ErrorCode::invalid_argument, "run_process: empty argv");
  const ChildImage image(spec);
  int out_fd = -1, err_fd = -1;
  ChildWatch child;
  if (spec.contain) {
    child.pid = start_contained(spec, image, out_fd, err_fd, child.status_fd);
  } else {
    child.pid = start_child(spec, image, out_fd, err_fd);
    if (spec.on_started) spec.on_started(child.pid);
  }
  child.start = Clock::now();

  ProcessResult result;
  std::deque<std::string> tail;
  pump_output(spec, child, out_fd, err_fd, result, tail);
  ::close(out_fd);
  ::close(err_fd);
  child.wait_blocking();
  if (result.timed_out || result.cancelled) {
    // Nothing of a killed command may stay behind.
    if (spec.contain)
      end_scope({{child.pid}, {{child.pid, 0}}}, std::chrono::seconds(3));
    else
      end_sessions({child.pid}, std::chrono::seconds(3));
  }
  result.exit_status = decode_status(child.status);
  std::string t;
  for (const auto& l : tail) {
    t += l;
    t += '\n';
  }
  result.output_tail = std::move(t);
  return result;
}

namespace {

// /proc/PID/stat of one process, zombies included; nothing when it is gone.
std::optional<ProcInfo> read_proc_stat(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = 0;
  // pid (comm) state ppid pgrp session ...; comm may hold spaces and parens.
  const char* rp = std::strrchr(buf, ')');
  if (!rp) return std::nullopt;
  ProcInfo info;
  info.pid = pid;
  if (std::sscanf(rp + 1,
                  " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                  &info.state, &info.ppid, &info.pgrp, &info.session, &info.start) != 5)
    return std::nullopt;
  return info;
}

}  // namespace

std::vector<ProcInfo> list_processes() {
  std::vector<ProcInfo> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    auto info = read_proc_stat(static_cast<pid_t>(std::atoi(e->d_name)));
    if (!info || info->state == 'Z' || info->state == 'X') continue;
    out.push_back(*info);
  }
  ::closedir(d);
  return out;
}

std::vector<pid_t> find_by_environment(const std::string& name, const std::string& value,
                                       bool prefix) {
  std::vector<pid_t> out;
  const std::string want = name + "=" + value;
  for (const auto& p : list_processes()) {
    std::string path = "/proc/" + std::to_string(p.pid) + "/environ";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string env;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      env.append(buf, static_cast<std::size_t>(n));
      if (env.size() > (4u << 20)) break;
    }
    ::close(fd);
    std::size_t start = 0;
    while (start < env.size()) {
      auto end = env.find('\0', start);
      if (end == std::string::npos) end = env.size();
      std::string_view kv(env.data() + start, end - start);
      if (prefix ? kv.substr(0, want.size()) == want : kv == want) {
        out.push_back(p.pid);
        break;
      }
      start = end + 1;
    }
  }
  return out;
}

std::vector<pid_t> processes_in_sessions(const std::set<pid_t>& sessions) {
  std::vector<pid_t> out;
  if (sessions.empty()) return out;
  pid_t self = ::getpid();
  for (const auto& p : list_processes())
    if (p.pid != self && sessions.count(p.session)) out.push_back(p.pid);
  return out;
}

int end_sessions(const std::set<pid_t>& sessions, std::chrono::milliseconds grace) {
  if (sessions.empty()) return 0;
  // Never signal our own session (a caller bug would otherwise kill us).
  std::set<pid_t> targets = sessions;
  targets.erase(::getsid(0));
  targets.erase(0);
  targets.erase(1);
  auto victims = processes_in_sessions(targets);
  if (victims.empty()) return 0;
  for (pid_t pid : victims) ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    if (processes_in_sessions(targets).empty()) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (pid_t pid : processes_in_sessions(targets)) ::kill(pid, SIGKILL);
  auto hard = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < hard) {
    auto left = processes_in_sessions(targets);
    if (left.empty()) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return static_cast<int>(processes_in_sessions(targets).size());
}

unsigned long long process_start(pid_t pid) {
  auto info = read_proc_stat(pid);
  return info ? info->start : 0;
}

namespace {

// The scope's live processes in one snapshot, and which of them are keepers.
std::vector<pid_t> scope_members(const ProcessScope& scope, const std::vector<ProcInfo>& procs,
                                 std::set<pid_t>* keepers) {
  std::set<pid_t> sessions = scope.sessions;
  sessions.erase(::getsid(0));
  sessions.erase(0);
  sessions.erase(1);
  std::multimap<pid_t, pid_t> children;
  for (const auto& p : procs) children.emplace(p.ppid, p.pid);
  std::set<pid_t> members;
  std::vector<pid_t> todo;
  for (const auto& k : scope.keepers)
    for (const auto& p : procs)
      if (p.pid == k.pid && p.pid > 1 && (k.start == 0 || k.start == p.start)) {
        todo.push_back(p.pid);
        if (keepers) keepers->insert(p.pid);
      }
  while (!todo.empty()) {  // each pid once: the process tree has no cycles
    pid_t p = todo.back();
    todo.pop_back();
    if (!members.insert(p).second) continue;
    auto range = children.equal_range(p);
    for (auto it = range.first; it != range.second; ++it) todo.push_back(it->second);
  }
  for (const auto& p : procs)
    if (sessions.count(p.session)) members.insert(p.pid);
  members.erase(::getpid());
  members.erase(0);
  members.erase(1);
  return {members.begin(), members.end()};
}

// Sends sig to every member of the scope but its keepers, until none is left
// or the deadline passes; true when none is left.
bool signal_until_gone(const ProcessScope& scope, int sig, Clock::time_point deadline) {
  for (;;) {
    std::set<pid_t> keepers;
    auto members = scope_members(scope, list_processes(), &keepers);
    bool any = false;
    for (pid_t p : members)
      if (!keepers.count(p)) {
        ::kill(p, sig);
        any = true;
      }
    if (!any) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::vector<pid_t> processes_in_scope(const ProcessScope& scope) {
  return scope_members(scope, list_processes(), nullptr);
}

std::vector<pid_t> processes_in_scope(const ProcessScope& scope,
                                      const std::vector<ProcInfo>& snapshot) {
  return scope_members(scope, snapshot, nullptr);
}

int end_scope(const ProcessScope& scope, std::chrono::milliseconds grace) {
  if (processes_in_scope(scope).empty()) return 0;
  // A keeper outlives what it keeps: ended first, it would hand its
  // remaining descendants to init, out of reach.
  if (!signal_until_gone(scope, SIGTERM, Clock::now() + grace))
    signal_until_gone(scope, SIGKILL, Clock::now() + std::chrono::seconds(5));
  auto hard = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto left = processes_in_scope(scope);
    if (left.empty()) return 0;
    if (Clock::now() >= hard) return static_cast<int>(left.size());
    for (pid_t p : left) ::kill(p, SIGKILL);  // keepers, and anything they started last
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace raycluster::detail
