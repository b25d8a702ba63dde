// Local processes: run a command in its own session, and find and end every
// process of a session. The localhost provider's nodes are built on these.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/event.hpp"

namespace raycluster::detail {

struct ProcessSpec {
  std::vector<std::string> argv;              // argv[0] is looked up in PATH
  std::map<std::string, std::string> env;     // added to (or replacing in) this process's
  std::string cwd;                            // empty: unchanged
  std::chrono::milliseconds timeout{0};       // zero: none
  CancelToken cancel;
  std::function<void(std::string_view line, bool is_stderr)> on_line;
  // Called with the child's pid (= its session id) once it runs.
  std::function<void(pid_t)> on_started;
  // After the command exits, how long to keep reading output that its
  // background children may still write to the inherited pipes.
  std::chrono::milliseconds drain{300};
  std::size_t tail_lines = 40;
};

struct ProcessResult {
  int exit_status = -1;  // 128+N when killed by signal N
  bool timed_out = false;
  bool cancelled = false;
  std::string output_tail;

  bool ok() const noexcept { return exit_status == 0 && !timed_out && !cancelled; }
};

// Runs argv in a new session (setsid), stdin from /dev/null, stdout and
// stderr line by line to on_line. On timeout or cancel, the whole session is
// ended (SIGTERM, then SIGKILL). Background processes the command leaves
// behind keep running when it succeeds (that is how `ray start` works).
ProcessResult run_process(const ProcessSpec& spec);

struct ProcInfo {
  pid_t pid = 0;
  pid_t session = 0;
  pid_t pgrp = 0;
  char state = '?';
};

// Every live (not zombie) process on this machine.
std::vector<ProcInfo> list_processes();
// Pids of live processes whose initial environment has NAME=VALUE exactly,
// or NAME=VALUE... when prefix is true.
std::vector<pid_t> find_by_environment(const std::string& name, const std::string& value,
                                       bool prefix);
// Ends every process in the sessions: SIGTERM, wait up to grace, then SIGKILL.
// Returns the number of processes that were still alive after SIGKILL (0 when
// all are gone).
int end_sessions(const std::set<pid_t>& sessions, std::chrono::milliseconds grace);
// Live processes in these sessions.
std::vector<pid_t> processes_in_sessions(const std::set<pid_t>& sessions);

}  // namespace raycluster::detail
