#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "util/process.hpp"

using namespace raycluster::detail;
using namespace std::chrono_literals;

TEST_CASE("run_process streams lines and returns the exit status") {
  ProcessSpec spec;
  spec.argv = {"bash", "-c", "echo one; echo two >&2; printf three; exit 3"};
  std::vector<std::pair<std::string, bool>> lines;
  spec.on_line = [&](std::string_view l, bool err) { lines.emplace_back(std::string(l), err); };
  auto r = run_process(spec);
  CHECK(r.exit_status == 3);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == std::make_pair(std::string("one"), false));
  CHECK(lines[1] == std::make_pair(std::string("two"), true));
  CHECK(lines[2] == std::make_pair(std::string("three"), false));
}

TEST_CASE("run_process passes the environment") {
  ProcessSpec spec;
  spec.argv = {"bash", "-c", "echo \"$RC_TEST_VAR\""};
  spec.env["RC_TEST_VAR"] = "hello world";
  std::string got;
  spec.on_line = [&](std::string_view l, bool) { got = l; };
  CHECK(run_process(spec).exit_status == 0);
  CHECK(got == "hello world");
}

TEST_CASE("a timed-out command and its background children are ended") {
  ProcessSpec spec;
  spec.argv = {"bash", "-c", "sleep 300 & sleep 300"};
  spec.timeout = 300ms;
  pid_t sid = 0;
  spec.on_started = [&](pid_t p) { sid = p; };
  // Without the timeout it would run 300 s, past the suite's time limit.
  auto r = run_process(spec);
  CHECK(r.timed_out);
  CHECK(processes_in_sessions({sid}).empty());
}

TEST_CASE("cancel ends a running command") {
  ProcessSpec spec;
  spec.argv = {"bash", "-c", "sleep 300"};
  std::thread t([token = spec.cancel] {
    std::this_thread::sleep_for(200ms);
    token.cancel();
  });
  auto r = run_process(spec);
  t.join();
  CHECK(r.cancelled);
  CHECK_FALSE(r.ok());
}

TEST_CASE("a successful command's daemons survive and end_sessions ends them") {
  ProcessSpec spec;
  spec.argv = {"bash", "-c", "setsid -f sleep 300 >/dev/null 2>&1 & sleep 300 >/dev/null 2>&1 & echo started"};
  spec.env["RC_PROCESS_TEST_MARK"] = std::to_string(getpid());
  pid_t sid = 0;
  spec.on_started = [&](pid_t p) { sid = p; };
  auto r = run_process(spec);
  CHECK(r.exit_status == 0);
  // The background sleep stays in the command's session; the setsid one
  // leaves it (setsid -f forks first, so give it a moment) but still
  // carries the environment marker.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (processes_in_sessions({sid}).size() != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  CHECK(processes_in_sessions({sid}).size() == 1);
  auto marked = find_by_environment("RC_PROCESS_TEST_MARK", std::to_string(getpid()), false);
  CHECK(marked.size() == 2);
  std::set<pid_t> sessions = {sid};
  for (const auto& p : list_processes())
    for (pid_t m : marked)
      if (p.pid == m) sessions.insert(p.session);
  CHECK(end_sessions(sessions, 2s) == 0);
  CHECK(find_by_environment("RC_PROCESS_TEST_MARK", std::to_string(getpid()), false).empty());
}

namespace {

// Live `sleep SECONDS` processes. A marker in the environment would be lost
// to `env -i`, so the tests mark their sleeps by an odd duration instead and
// find them by command line.
std::vector<pid_t> sleeps_of(const std::string& seconds) {
  std::vector<pid_t> out;
  for (const auto& p : list_processes()) {
    FILE* f = std::fopen(("/proc/" + std::to_string(p.pid) + "/cmdline").c_str(), "rb");
    if (!f) continue;
    char buf[256] = {0};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string cmd(buf, n);
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.rfind("sleep " + seconds, 0) == 0) out.push_back(p.pid);
  }
  return out;
}

}  // namespace

TEST_CASE("a contained command's detached descendants stay in its scope until ended") {
  const std::string secs = std::to_string(1000 + getpid() % 1000);
  ProcessSpec spec;
  spec.contain = true;
  spec.argv = {"bash", "-c",
               "setsid env -i sh -c 'sleep " + secs + "' >/dev/null 2>&1 < /dev/null &"
               " (sh -c 'sleep " + secs + " >/dev/null 2>&1 &') ;"
               " nohup sleep " + secs + " >/dev/null 2>&1 & echo started"};
  pid_t keeper = 0;
  spec.on_started = [&](pid_t p) {
    keeper = p;
    // The command has not started yet: it waits for this callback.
    CHECK(sleeps_of(secs).empty());
  };
  std::string out;
  spec.on_line = [&](std::string_view l, bool) { out += l; };
  auto r = run_process(spec);
  CHECK(r.exit_status == 0);
  CHECK(out == "started");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sleeps_of(secs).size() != 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto sleeps = sleeps_of(secs);
  REQUIRE(sleeps.size() == 3);
  ProcessScope scope{{}, {{keeper, process_start(keeper)}}};
  auto members = processes_in_scope(scope);
  for (pid_t s : sleeps) CHECK(std::count(members.begin(), members.end(), s) == 1);
  // A keeper recorded with another start time is a different process.
  CHECK(processes_in_scope(ProcessScope{{}, {{keeper, process_start(keeper) + 1}}}).empty());
  CHECK(end_scope(scope, 2s) == 0);
  CHECK(sleeps_of(secs).empty());
  CHECK(processes_in_scope(scope).empty());
}

TEST_CASE("a contained command that times out leaves nothing behind, detached or not") {
  const std::string secs = std::to_string(2000 + getpid() % 1000);
  ProcessSpec spec;
  spec.contain = true;
  spec.argv = {"bash", "-c", "setsid env -i sleep " + secs + " & sleep " + secs};
  spec.timeout = 500ms;
  auto r = run_process(spec);
  CHECK(r.timed_out);
  CHECK(sleeps_of(secs).empty());
}

TEST_CASE("a contained command's exit status and output come through its keeper") {
  ProcessSpec spec;
  spec.contain = true;
  spec.argv = {"bash", "-c", "echo one; exit 7"};
  std::string got;
  spec.on_line = [&](std::string_view l, bool) { got += l; };
  auto r = run_process(spec);
  CHECK(r.exit_status == 7);
  CHECK(got == "one");
}
