// SshRunner against real OpenSSH servers on loopback (see sshd_fixture.hpp).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "util/error.hpp"
#include "ssh/ssh.hpp"
#include "sshd_fixture.hpp"
#include "util/fs.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace rd = raycluster::detail;
using raycluster::CommandOptions;
using raycluster::CommandResult;
using raycluster::Error;
using raycluster::ErrorCode;
using raycluster::SshRunner;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Captured {
  std::vector<std::string> out, err;
  CommandOptions options() {
    CommandOptions o;
    o.on_line = [this](std::string_view l, bool is_stderr) {
      (is_stderr ? err : out).emplace_back(l);
    };
    return o;
  }
};

// Runs a command that must succeed; returns its stdout lines joined by \n.
std::string must_run(SshRunner& r, const std::string& cmd) {
  Captured c;
  auto res = r.run(cmd, c.options());
  INFO("command: " << cmd << "\ntail: " << res.output_tail);
  REQUIRE(res.ok());
  return rd::join(c.out, "\n");
}

std::string http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {};
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return resp;
}

unsigned mode_of(const std::string& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("run: output by line, stderr apart, exit status; the session is reused") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  auto t0 = Clock::now();
  Captured c;
  auto res = runner.run("echo out1; echo err1 >&2; echo out2; exit 3", c.options());
  double first = seconds_since(t0);
  CHECK(res.exit_status == 3);
  CHECK_FALSE(res.ok());
  CHECK(c.out == std::vector<std::string>{"out1", "out2"});
  CHECK(c.err == std::vector<std::string>{"err1"});  // login-shell noise filtered
  CHECK(res.output_tail.find("err1") != std::string::npos);
  t0 = Clock::now();
  const int n = 20;
  for (int i = 0; i < n; ++i) CHECK(must_run(runner, "echo " + std::to_string(i)) == std::to_string(i));
  double per = seconds_since(t0) / n;
  MESSAGE("connect + first command: " << first * 1000 << " ms; later commands (login shell): "
                                      << per * 1000 << " ms each");
  raycluster::SshOptions plain = sshd.options(state.path);
  plain.login_shell = false;
  SshRunner fast(plain);
  must_run(fast, "true");
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) must_run(fast, "true");
  MESSAGE("later commands without the login shell: " << seconds_since(t0) / n * 1000 << " ms each");
  CHECK(runner.describe().find("@127.0.0.1:" + std::to_string(sshd.port())) != std::string::npos);
}

TEST_CASE("run: keepalives while a command runs leave its output intact") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  auto opts = sshd.options(state.path);
  opts.keepalive_interval = std::chrono::milliseconds(50);
  SshRunner runner(opts);
  CHECK(must_run(runner, "for i in 1 2 3 4 5; do echo $i; sleep 0.2; done") == "1\n2\n3\n4\n5");
  raycluster::CancelToken cancelled;
  cancelled.cancel();
  CommandOptions o;
  o.cancel = cancelled;
  CHECK(runner.run("touch /tmp/never", o).cancelled);
}

TEST_CASE("run: environment variables arrive, quoted") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  CommandOptions o;
  o.env = {{"RAY_HEAD_IP", "10.1.2.3"}, {"ODD", "it's \"$HOME\" `x` ;|&"}};
  std::vector<std::string> out;
  o.on_line = [&](std::string_view l, bool e) {
    if (!e) out.emplace_back(l);
  };
  auto res = runner.run("echo \"$RAY_HEAD_IP\"; printf '%s\\n' \"$ODD\"", o);
  REQUIRE(res.ok());
  CHECK(out == std::vector<std::string>{"10.1.2.3", "it's \"$HOME\" `x` ;|&"});
}

TEST_CASE("wait_ready: a node whose SSH comes up late") {
  rctest::Sshd sshd(false);
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  auto t0 = Clock::now();
  std::thread later([&] {
    std::this_thread::sleep_for(1500ms);
    sshd.start();
  });
  CHECK_NOTHROW(runner.wait_ready(std::chrono::milliseconds(30000)));
  later.join();
  double waited = seconds_since(t0);
  CHECK(waited >= 1.4);  // not ready before sshd was
  MESSAGE("ready " << waited << " s after start (sshd started at 1.5 s)");
  CHECK(must_run(runner, "echo up") == "up");
}

TEST_CASE("wait_ready: a node that never comes up hits the deadline, named; cancel stops at once") {
  int port = rctest::free_port();
  rctest::TempDir state;
  raycluster::SshOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.user = "ubuntu";
  o.private_key_path = rctest::UserKeys::get().ed25519;
  o.known_hosts_path = state.path + "/known_hosts";
  SshRunner runner(o);
  auto t0 = Clock::now();
  try {
    runner.wait_ready(std::chrono::milliseconds(2000));
    FAIL("wait_ready returned");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::timeout);
    std::string msg = e.what();
    CHECK(msg.find("ubuntu@127.0.0.1:" + std::to_string(port)) != std::string::npos);
    MESSAGE(msg);
  }
  CHECK(seconds_since(t0) >= 1.9);  // waited until the deadline

  // A server that never answers: only the cancel can end a wait whose
  // deadline outlasts the suite's time limit (a timeout would be an error
  // of another code).
  rctest::SilentServer silent;
  o.port = silent.port();
  o.connect_timeout = 3600s;
  SshRunner blackhole(o);
  raycluster::CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel.cancel();
  });
  try {
    blackhole.wait_ready(std::chrono::milliseconds(3600 * 1000), cancel);
    FAIL("wait_ready returned");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::cancelled);
  }
  canceller.join();
}

TEST_CASE("run: a command that fails once, then succeeds on the second run") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  std::string marker = "/tmp/rc-ssh-once-" + rd::random_hex(6);
  std::string cmd = "if [ -f " + marker + " ]; then echo second; else touch " + marker +
                    "; echo 'first: not yet' >&2; exit 9; fi";
  Captured c1;
  auto r1 = runner.run(cmd, c1.options());
  CHECK(r1.exit_status == 9);
  CHECK(r1.output_tail.find("first: not yet") != std::string::npos);
  Captured c2;
  auto r2 = runner.run(cmd, c2.options());
  CHECK(r2.ok());
  CHECK(c2.out == std::vector<std::string>{"second"});
  ::unlink(marker.c_str());
}

TEST_CASE("run: a command that always fails: exit status and the tail of its output") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  Captured c;
  auto r = runner.run("for i in $(seq 1 100); do echo line $i; done; echo 'boom: disk full' >&2; exit 7",
                      c.options());
  CHECK(r.exit_status == 7);
  CHECK_FALSE(r.timed_out);
  CHECK(c.out.size() == 100);
  CHECK(r.output_tail.find("line 100\n") != std::string::npos);
  CHECK(r.output_tail.find("boom: disk full") != std::string::npos);
  CHECK(r.output_tail.find("line 10\n") == std::string::npos);  // only the last lines
  // A signal ends the command: 128 + N as locally.
  auto k = runner.run("kill -KILL $$", {});
  CHECK(k.exit_status == 137);
}

TEST_CASE("run: background children keep running and do not hold the command open") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  std::string tag = std::to_string(100000 + std::rand() % 800000);
  // The child keeps the command's stdout: the channel stays open after the
  // shell exits (for weeks: sleep 6NNNNNN); the runner returns at the exit
  // status, or this test would outlast the suite.
  Captured c;
  auto r = runner.run("sleep 6" + tag + " & echo started", c.options());
  CHECK(r.ok());
  CHECK(c.out == std::vector<std::string>{"started"});
  CHECK_FALSE(rctest::processes_matching("sleep 6" + tag).empty());
  for (pid_t p : rctest::processes_matching("sleep 6" + tag)) ::kill(p, SIGKILL);
}

// The commands killed here are past the login shell's start-up files: a
// shell killed inside ~/.bashrc can leave tools' locks behind (pyenv rehash).
TEST_CASE("run: a hanging command ends at its timeout, with its remote processes") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  auto opts = sshd.options(state.path);
  opts.login_shell = false;
  SshRunner runner(opts);
  std::string tag = std::to_string(100000 + std::rand() % 800000);
  CommandOptions o;
  o.timeout = 1000ms;
  // A pipeline and a background child: the whole group must go (each would
  // sleep for weeks: only the timeout ends them).
  auto r = runner.run("sleep 7" + tag + " & sleep 8" + tag + " | cat; wait", o);
  CHECK(r.timed_out);
  CHECK_FALSE(r.ok());
  std::this_thread::sleep_for(200ms);
  CHECK(rctest::processes_matching("sleep 7" + tag).empty());
  CHECK(rctest::processes_matching("sleep 8" + tag).empty());
  // The runner goes on working.
  CHECK(must_run(runner, "echo still") == "still");
}

TEST_CASE("run: cancel ends a command under the login shell (which ignores SIGTERM)") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  SshRunner runner(sshd.options(state.path));
  std::string tag = std::to_string(100000 + std::rand() % 800000);
  raycluster::CancelToken cancel;
  CommandOptions o;
  o.cancel = cancel;
  o.on_line = [&](std::string_view line, bool) {
    if (line == "started") cancel.cancel();
  };
  // Sleeps of weeks: only the cancel ends the command.
  auto r = runner.run("echo started; sleep 9" + tag + "; sleep 9" + tag, o);
  CHECK(r.cancelled);
  std::this_thread::sleep_for(200ms);
  CHECK(rctest::processes_matching("sleep 9" + tag).empty());
  CHECK(must_run(runner, "echo still") == "still");
}

TEST_CASE("host key: unknown host recorded on first contact (file written, 0600)") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  auto opts = sshd.options(state.path + "/cluster-a");  // the folder does not exist yet
  {
    SshRunner runner(opts);
    must_run(runner, "true");
  }
  REQUIRE(rd::path_exists(opts.known_hosts_path));
  CHECK(mode_of(opts.known_hosts_path) == 0600);
  std::string content = rd::read_file(opts.known_hosts_path);
  CHECK(content.rfind("[127.0.0.1]:" + std::to_string(sshd.port()) + " ssh-ed25519 ", 0) == 0);
  auto fields = rd::split(std::string(rd::trim(content)), ' ');
  REQUIRE(fields.size() >= 3);
  CHECK(raycluster::ssh_fingerprint_sha256(fields[2]) == sshd.host_key_fingerprint());
  // Known now: a second runner connects and nothing is added.
  SshRunner again(opts);
  must_run(again, "true");
  CHECK(rd::read_file(opts.known_hosts_path) == content);
}

TEST_CASE("host key: a changed key is refused, naming the node and both fingerprints") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  auto opts = sshd.options(state.path);
  {
    SshRunner runner(opts);
    must_run(runner, "true");
  }
  std::string old_fp = sshd.host_key_fingerprint();
  sshd.restart_with_new_host_key();
  std::string new_fp = sshd.host_key_fingerprint();
  REQUIRE(old_fp != new_fp);
  std::string pinned = rd::read_file(opts.known_hosts_path);
  SshRunner runner(opts);
  try {
    runner.run("touch /tmp/should-not-run", {});
    FAIL("connected despite a changed host key");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    std::string msg = e.what();
    MESSAGE(msg);
    CHECK(msg.find("127.0.0.1:" + std::to_string(sshd.port())) != std::string::npos);
    CHECK(msg.find(old_fp) != std::string::npos);
    CHECK(msg.find(new_fp) != std::string::npos);
  }
  // wait_ready does not wait for a mismatch to heal: a retry would outlast
  // the suite's time limit.
  CHECK_THROWS_AS(runner.wait_ready(std::chrono::milliseconds(3600 * 1000)), Error);
  CHECK(rd::read_file(opts.known_hosts_path) == pinned);  // never overwritten
}

TEST_CASE("upload: a folder with modes; unchanged content is not sent again; download back") {
  rctest::Sshd sshd;
  rctest::TempDir state, local;
  SshRunner runner(sshd.options(state.path));
  std::string src = local.path + "/src";
  rd::make_dirs(src + "/sub/deeper");
  rd::make_dirs(src + "/empty");
  rd::write_file_atomic(src + "/run.sh", "#!/bin/sh\necho hi\n", 0755);
  rd::write_file_atomic(src + "/sub/secret.txt", "s3cr3t\n", 0600);
  rd::write_file_atomic(src + "/sub/deeper/data.bin", std::string(300000, 'x') + "end", 0644);
  ::chmod((src + "/sub").c_str(), 0750);
  std::string remote_dir = "rc-ssh-test-" + rd::random_hex(6);
  std::string remote = "~/" + remote_dir + "/a/b/mount";

  runner.upload(src, remote);
  auto s1 = runner.transfer_stats();
  CHECK(s1.files_sent == 3);
  CHECK(s1.files_skipped == 0);
  auto listing = must_run(runner, "cd ~/" + remote_dir + "/a/b/mount && stat -c '%a %n' run.sh sub sub/secret.txt "
                                  "sub/deeper/data.bin empty && ./run.sh");
  CHECK(listing == "755 run.sh\n750 sub\n600 sub/secret.txt\n644 sub/deeper/data.bin\n755 empty\nhi");

  runner.upload(src, remote);
  auto s2 = runner.transfer_stats();
  CHECK(s2.files_sent == 3);  // nothing more sent
  CHECK(s2.files_skipped == 3);
  CHECK(s2.bytes_sent == s1.bytes_sent);

  rd::write_file_atomic(src + "/sub/secret.txt", "changed\n", 0600);
  ::chmod((src + "/run.sh").c_str(), 0700);
  runner.upload(src, remote);
  auto s3 = runner.transfer_stats();
  CHECK(s3.files_sent == 4);  // only the changed file
  CHECK(must_run(runner, "stat -c %a ~/" + remote_dir + "/a/b/mount/run.sh") == "700");

  // A single file into a folder that does not exist yet; "~" is the home.
  runner.upload(src + "/run.sh", "~/" + remote_dir + "/single/bin/tool");
  CHECK(must_run(runner, "stat -c %a ~/" + remote_dir + "/single/bin/tool") == "700");
  runner.upload(src + "/run.sh", "~/" + remote_dir + "/single/bin/tool");
  CHECK(runner.transfer_stats().files_sent == 5);

  std::string back = local.path + "/back";
  runner.download(remote, back);
  CHECK(rd::read_file(back + "/sub/secret.txt") == "changed\n");
  CHECK(rd::read_file(back + "/sub/deeper/data.bin").size() == 300003);
  CHECK(mode_of(back + "/run.sh") == 0700);
  CHECK(mode_of(back + "/sub/secret.txt") == 0600);
  CHECK(runner.transfer_stats().files_received == 3);
  runner.download("~/" + remote_dir + "/single/bin/tool", local.path + "/one/tool");
  CHECK(rd::read_file(local.path + "/one/tool") == "#!/bin/sh\necho hi\n");

  CHECK_THROWS_AS(runner.upload(local.path + "/missing", "~/x"), Error);
  CHECK_THROWS_AS(runner.download("~/" + remote_dir + "/missing", local.path + "/m"), Error);
  must_run(runner, "rm -rf ~/" + remote_dir);
}

TEST_CASE("forward: HTTP through a forwarded port, several connections at once") {
  rctest::Sshd sshd;
  rctest::TempDir state, www;
  rd::write_file_atomic(www.path + "/hello.txt", "hello through ssh\n");
  SshRunner runner(sshd.options(state.path));
  int remote_port = rctest::free_port();
  auto pid = must_run(runner, "nohup python3 -m http.server " + std::to_string(remote_port) +
                                  " --bind 127.0.0.1 --directory " + www.path +
                                  " >/dev/null 2>&1 </dev/null & echo $!");
  must_run(runner, "for i in $(seq 1 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", " +
                       std::to_string(remote_port) + "))' 2>/dev/null && exit 0; sleep 0.1; done; exit 1");
  {
    auto fwd = runner.forward(0, remote_port);
    REQUIRE(fwd->local_port() > 0);
    auto t0 = Clock::now();
    auto resp = http_get(fwd->local_port(), "/hello.txt");
    MESSAGE("first request through the forward: " << seconds_since(t0) * 1000 << " ms");
    CHECK(resp.find("200 OK") != std::string::npos);
    CHECK(resp.find("hello through ssh") != std::string::npos);
    // Concurrent clients, while the runner keeps running commands.
    std::atomic<int> good{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 8; ++i)
      clients.emplace_back([&] {
        for (int j = 0; j < 3; ++j)
          if (http_get(fwd->local_port(), "/hello.txt").find("hello through ssh") != std::string::npos)
            ++good;
      });
    for (int i = 0; i < 5; ++i) must_run(runner, "true");
    for (auto& t : clients) t.join();
    CHECK(good == 24);
    CHECK(fwd->connections() == 25);
    // Nothing listening on the remote port: the client is closed, the forward lives on.
    auto dead = runner.forward(0, rctest::free_port());
    CHECK(http_get(dead->local_port(), "/").empty());
    CHECK(http_get(fwd->local_port(), "/hello.txt").find("200 OK") != std::string::npos);
  }
  must_run(runner, "kill " + pid);
}

TEST_CASE("many runners at once: 24 threads against two sshd") {
  rctest::Sshd a, b;
  rctest::TempDir state;
  auto one = [&](rctest::Sshd& s, int i, bool login) {
    auto o = s.options(state.path);
    o.login_shell = login;
    SshRunner r(o);
    Captured c;
    auto res = r.run("echo runner-" + std::to_string(i), c.options());
    return res.ok() && c.out == std::vector<std::string>{"runner-" + std::to_string(i)};
  };
  for (bool login : {true, false}) {
    auto t0 = Clock::now();
    CHECK(one(a, -1, login));
    double single = seconds_since(t0);
    const int n = 24;
    std::atomic<int> good{0};
    std::vector<std::string> errors(n);
    std::vector<std::thread> threads;
    t0 = Clock::now();
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        try {
          if (one(i % 2 ? a : b, i, login)) ++good;
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    for (auto& t : threads) t.join();
    double all = seconds_since(t0);
    for (const auto& e : errors)
      if (!e.empty()) MESSAGE(e);
    CHECK(good == n);
    MESSAGE((login ? "login shell" : "plain shell")
            << ": 1 runner (connect + command): " << single * 1000 << " ms; " << n
            << " runners in parallel: " << all * 1000 << " ms");
  }
  // Both hosts pinned once each although all met them at the same time.
  auto lines = rd::split(std::string(rd::trim(rd::read_file(state.path + "/known_hosts"))), '\n');
  CHECK(lines.size() == 2);
}

TEST_CASE("keys: PEM works; a passphrase-protected key gives a clear error naming the file") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  auto opts = sshd.options(state.path);
  opts.private_key_path = rctest::UserKeys::get().rsa_pem;
  {
    SshRunner pem(opts);
    CHECK(must_run(pem, "echo pem") == "pem");
  }
  opts.private_key_path = rctest::UserKeys::get().encrypted;
  SshRunner enc(opts);
  try {
    enc.run("true", {});
    FAIL("connected with an encrypted key and no agent");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    std::string msg = e.what();
    MESSAGE(msg);
    CHECK(msg.find(opts.private_key_path) != std::string::npos);
    CHECK(msg.find("passphrase") != std::string::npos);
    CHECK(msg.find("PRIVATE KEY") == std::string::npos);
  }
  // Not retried: a retry would outlast the suite's time limit.
  CHECK_THROWS_AS(enc.wait_ready(std::chrono::milliseconds(3600 * 1000)), Error);

  // Wrong key (not authorized): auth error naming the key.
  rctest::TempDir other;
  rctest::run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other.path + "/k"});
  opts.private_key_path = other.path + "/k";
  SshRunner wrong(opts);
  try {
    wrong.run("true", {});
    FAIL("connected with an unknown key");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    CHECK(std::string(e.what()).find(other.path + "/k") != std::string::npos);
  }
}

TEST_CASE("keys: a private key others can read is refused as OpenSSH refuses it") {
  rctest::Sshd sshd;
  rctest::TempDir state;
  rctest::TempDir keys;
  const std::string key = keys.path + "/id";
  rd::write_file_atomic(key, rd::read_file(rctest::UserKeys::get().ed25519), 0644);
  auto opts = sshd.options(state.path);
  opts.private_key_path = key;
  SshRunner open_key(opts);
  try {
    open_key.run("true", {});
    FAIL("connected with a key readable by others");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    std::string msg = e.what();
    CHECK(msg.find(key + " has permissions 0644") != std::string::npos);
    CHECK(msg.find("bad permissions") != std::string::npos);
    CHECK(msg.find("chmod 600 " + key) != std::string::npos);
  }
  // Not retried: a retry would outlast the suite's time limit.
  CHECK_THROWS_AS(open_key.wait_ready(std::chrono::milliseconds(3600 * 1000)), Error);
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  SshRunner fixed(opts);
  CHECK(must_run(fixed, "echo ok") == "ok");
}

TEST_CASE("keys: a passphrase-protected key held by an ssh-agent works") {
  rctest::Sshd sshd;
  rctest::TempDir state, agent_dir;
  std::string sock = agent_dir.path + "/agent.sock";
  std::string askpass = agent_dir.path + "/askpass.sh";
  rd::write_file_atomic(askpass, "#!/bin/sh\necho secret\n", 0700);
  auto out = rctest::run_ok({"sh", "-c",
                             "ssh-agent -a " + sock + " -s >/dev/null && SSH_AUTH_SOCK=" + sock +
                                 " SSH_ASKPASS=" + askpass +
                                 " SSH_ASKPASS_REQUIRE=force DISPLAY=none ssh-add " +
                                 rctest::UserKeys::get().encrypted + " </dev/null 2>&1"});
  auto opts = sshd.options(state.path);
  opts.private_key_path = rctest::UserKeys::get().encrypted;
  opts.agent_socket = sock;
  {
    SshRunner r(opts);
    CHECK(must_run(r, "echo agent") == "agent");
  }
  rctest::run_ok({"sh", "-c", "SSH_AUTH_SOCK=" + sock + " ssh-agent -k >/dev/null 2>&1; true"});
  for (pid_t p : rctest::processes_matching("ssh-agent -a " + sock)) ::kill(p, SIGTERM);
  // The agent unlinks its socket as it ends: let it, before the folder goes.
  for (int i = 0; i < 50 && !rctest::processes_matching("ssh-agent -a " + sock).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

TEST_CASE("attach: an interactive shell through fds (pipe in, file out)") {
  rctest::Sshd sshd;
  rctest::TempDir state, tmp;
  SshRunner runner(sshd.options(state.path));
  int in[2];
  REQUIRE(::pipe(in) == 0);
  std::string input = "echo h''i; exit 5\n";
  REQUIRE(::write(in[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  std::string out_path = tmp.path + "/out";
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int status = runner.attach(in[0], out);
  ::close(in[0]);
  ::close(out);
  CHECK(status == 5);
  bool saw = false;
  // A terminal's output: CR LF line ends, and escape sequences before the text.
  for (const auto& line : rd::split(rd::read_file(out_path), '\n'))
    for (const auto& piece : rd::split(line, '\r'))
      if (piece == "hi") saw = true;
  if (!saw) MESSAGE(rd::read_file(out_path));
  CHECK(saw);
}

TEST_CASE("proxy: ProxyCommand and a jump host") {
  rctest::Sshd target, jump;
  rctest::TempDir state;
  auto opts = target.options(state.path);
  opts.proxy_command = "exec bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'";
  {
    SshRunner r(opts);
    CHECK(must_run(r, "echo proxied") == "proxied");
  }
  opts.proxy_command.clear();
  opts.jump_host = rctest::current_user() + "@127.0.0.1:" + std::to_string(jump.port());
  SshRunner r(opts);
  CHECK(must_run(r, "echo jumped") == "jumped");
  // The jump host got pinned in the same file.
  CHECK(rd::read_file(opts.known_hosts_path).find("[127.0.0.1]:" + std::to_string(jump.port())) !=
        std::string::npos);
}

TEST_CASE("reconnect: a dropped connection is reopened once, transparently") {
  rctest::Sshd sshd;
  rctest::TempDir state, local;
  auto opts = sshd.options(state.path);
  opts.login_shell = false;  // connections are killed mid-command below
  SshRunner runner(opts);
  CHECK(must_run(runner, "echo one") == "one");
  sshd.drop_connections();
  std::this_thread::sleep_for(200ms);
  CHECK(must_run(runner, "echo two") == "two");
  rd::write_file_atomic(local.path + "/f", "x");
  runner.upload(local.path + "/f", "/tmp/rc-ssh-reconnect-" + rd::random_hex(4));
  sshd.drop_connections();
  std::this_thread::sleep_for(200ms);
  runner.upload(local.path + "/f", "/tmp/rc-ssh-reconnect-" + rd::random_hex(4));
  CHECK(runner.transfer_stats().files_sent == 2);
  must_run(runner, "rm -f /tmp/rc-ssh-reconnect-*");
  // Dropped in the middle of a command: an error naming the node, then it works again.
  std::thread dropper([&] {
    std::this_thread::sleep_for(500ms);
    sshd.drop_connections();
  });
  try {
    runner.run("sleep 5", {});
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(sshd.port())) != std::string::npos);
  }
  dropper.join();
  CHECK(must_run(runner, "echo three") == "three");
}
