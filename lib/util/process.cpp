#include "util/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
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
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
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
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (devnull >= 0) ::close(devnull);
  out_fd = out_pipe[0];
  err_fd = err_pipe[0];
  return pid;
}

// The child as run_process watches it: whether and when it exited, and
// whether it is being stopped.
struct ChildWatch {
  pid_t pid = -1;
  Clock::time_point start = Clock::now();
  bool exited = false;
  int status = 0;
  Clock::time_point exited_at{};
  bool killing = false;
  Clock::time_point kill_sent{};

  void check_exit() {
    if (exited) return;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      exited = true;
      exited_at = Clock::now();
    }
  }

  // On timeout or cancel: SIGTERM to the child's session, SIGKILL after 3 s.
  void stop_if_due(const ProcessSpec& spec, ProcessResult& result) {
    if (!exited && !killing) {
      bool over = spec.timeout.count() > 0 && Clock::now() - start >= spec.timeout;
      bool cancel = spec.cancel.cancelled();
      if (over || cancel) {
        result.timed_out = over;
        result.cancelled = cancel && !over;
        kill_session(pid, SIGTERM);
        killing = true;
        kill_sent = Clock::now();
      }
    } else if (!exited && killing && Clock::now() - kill_sent > std::chrono::seconds(3)) {
      kill_session(pid, SIGKILL);
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
    struct pollfd pfd[2];
    nfds_t n = 0;
    int idx[2];
    for (int i = 0; i < 2; ++i)
      if (open_fd[i]) {
        pfd[n].fd = fds[i];
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        idx[n] = i;
        ++n;
      }
    if (n == 0) {
      if (!child.exited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      continue;
    }
    int pr = ::poll(pfd, n, 50);
    if (pr < 0 && errno != EINTR) break;
    for (nfds_t k = 0; k < n && pr > 0; ++k) {
      if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int i = idx[k];
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
  const pid_t pid = start_child(spec, image, out_fd, err_fd);
  if (spec.on_started) spec.on_started(pid);

  ProcessResult result;
  std::deque<std::string> tail;
  ChildWatch child;
  child.pid = pid;
  pump_output(spec, child, out_fd, err_fd, result, tail);
  ::close(out_fd);
  ::close(err_fd);
  if (!child.exited) ::waitpid(pid, &child.status, 0);
  if (result.timed_out || result.cancelled) {
    // Nothing of a killed command may stay behind.
    end_sessions({pid}, std::chrono::seconds(3));
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

std::vector<ProcInfo> list_processes() {
  std::vector<ProcInfo> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string path = std::string("/proc/") + e->d_name + "/stat";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    // pid (comm) state ppid pgrp session ...; comm may hold spaces and parens.
    const char* rp = std::strrchr(buf, ')');
    if (!rp) continue;
    ProcInfo info;
    info.pid = static_cast<pid_t>(std::atoi(buf));
    int ppid = 0, pgrp = 0, session = 0;
    char state = '?';
    if (std::sscanf(rp + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) continue;
    info.state = state;
    info.pgrp = pgrp;
    info.session = session;
    if (state == 'Z' || state == 'X') continue;
    out.push_back(info);
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

}  // namespace raycluster::detail
