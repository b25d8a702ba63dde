#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
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
  auto start = std::chrono::steady_clock::now();
  auto r = run_process(spec);
  CHECK(r.timed_out);
  CHECK(std::chrono::steady_clock::now() - start < 10s);
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
