// Local processes: run a command in its own session, and find and end every
// process of a session, or every process a contained command started. The
// localhost provider's nodes are built on these.
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
  // Contain every process the command starts. The command then runs under a
  // keeper: a small process of its own (forked, not exec'd; every inherited
  // descriptor closed) that leads the session, is a child subreaper
  // (PR_SET_CHILD_SUBREAPER) and ignores SIGTERM, SIGINT and SIGHUP.
  // Descendants that detach (setsid, double fork, nohup, env -i) re-parent
  // to it instead of to init, so they stay its descendants and
  // processes_in_scope() finds them. The keeper reaps them and exits when it
  // has none left; on_started gets its pid (= the session id) before the
  // command runs, so a caller that records it before returning never loses
  // a process, even if it is killed itself right after. The keeper shares
  // the forking program's memory copy-on-write; what it still holds after
  // that program exits stays with it until the processes it keeps end.
  bool contain = false;
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
  pid_t ppid = 0;
  pid_t session = 0;
  pid_t pgrp = 0;
  char state = '?';
  unsigned long long start = 0;  // clock ticks after boot (/proc/PID/stat field 22)
};

// A contained command's keeper as a caller records it: its pid and start
// time, so that a pid the kernel gave to another process since is never
// taken for it (start 0: not checked).
struct Keeper {
  pid_t pid = 0;
  unsigned long long start = 0;
};

// The processes of one owner (a localhost node): every member of the
// sessions, and every live keeper with all its descendants.
struct ProcessScope {
  std::set<pid_t> sessions;
  std::vector<Keeper> keepers;
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
// Start time of a live process (see ProcInfo::start); 0 when there is none.
unsigned long long process_start(pid_t pid);
// Live processes of the scope, keepers included; never this process, its
// session, or pids 0 and 1.
std::vector<pid_t> processes_in_scope(const ProcessScope& scope);
// The same, in a snapshot of list_processes() taken by the caller.
std::vector<pid_t> processes_in_scope(const ProcessScope& scope,
                                      const std::vector<ProcInfo>& snapshot);
// Ends every process of the scope: SIGTERM to all but the keepers (and to
// whatever they start meanwhile), SIGKILL after grace, then the keepers,
// which by then have nothing left to keep. Returns the number of processes
// of the scope still alive at the end (0 when all are gone).
int end_scope(const ProcessScope& scope, std::chrono::milliseconds grace);

}  // namespace raycluster::detail
