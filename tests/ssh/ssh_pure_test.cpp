// The SSH layer's pure parts: what goes over the wire and how replies parse.
#include <doctest/doctest.h>

#include <csignal>

#include "util/error.hpp"
#include "ssh/ssh.hpp"
#include "ssh/known_hosts.hpp"
#include "ssh/remote_command.hpp"
#include "ssh/session.hpp"
#include "ssh/sftp_transfer.hpp"
#include "sshd_fixture.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace rd = raycluster::detail;

namespace {

// Runs the exec string with a local shell, as sshd would with the user's shell.
std::pair<std::string, std::string> run_locally(const std::string& remote) {
  std::string out, err;
  rd::ProcessSpec spec;
  spec.argv = {"bash", "-c", remote};
  spec.on_line = [&](std::string_view l, bool is_stderr) {
    (is_stderr ? err : out).append(l).push_back('\n');
  };
  spec.timeout = std::chrono::seconds(30);
  auto r = rd::run_process(spec);
  out += "exit=" + std::to_string(r.exit_status) + "\n";
  return {out, err};
}

}  // namespace

TEST_CASE("remote_command: marker first, env quoted, the command's exit status kept") {
  std::map<std::string, std::string> env{{"A", "it's $HOME `x` \"q\""}, {"B", "two words"}};
  for (bool login : {false, true}) {
    auto [out, err] = run_locally(rd::remote_command("echo \"$A|$B\"; exit 4 # comment", env, login));
    auto lines = rd::split(out, '\n');
    REQUIRE(lines.size() >= 3);
    CHECK(rd::parse_pgid_marker(lines[0]).has_value());
    CHECK(lines[1] == "it's $HOME `x` \"q\"|two words");
    CHECK(lines[2] == "exit=4");
    for (const auto& l : rd::split(err, '\n'))
      if (!l.empty()) CHECK(rd::is_login_shell_noise(l));
  }
  CHECK_THROWS_AS(rd::remote_command("true", {{"BAD-NAME", "x"}}, false), raycluster::Error);
}

TEST_CASE("parse_pgid_marker and shell noise") {
  CHECK(rd::parse_pgid_marker("\x1erc-pgid 1234") == 1234L);
  CHECK_FALSE(rd::parse_pgid_marker("\x1erc-pgid 12x").has_value());
  CHECK_FALSE(rd::parse_pgid_marker("rc-pgid 1234").has_value());
  CHECK_FALSE(rd::parse_pgid_marker("\x1erc-pgid 1").has_value());  // never init's group
  CHECK(rd::is_login_shell_noise(
      "bash: cannot set terminal process group (-1): Inappropriate ioctl for device"));
  CHECK(rd::is_login_shell_noise("bash: no job control in this shell"));
  CHECK_FALSE(rd::is_login_shell_noise("bash: foo: command not found"));
  CHECK(rd::signal_number("TERM") == SIGTERM);
  CHECK(rd::signal_number("SIGKILL") == SIGKILL);
  CHECK(rd::signal_number("NOPE") == 0);
  CHECK(rd::kill_group_command(77, false).find("kill -s TERM -- -77") != std::string::npos);
  CHECK(rd::kill_group_command(77, true).find("kill -s KILL -- -77") != std::string::npos);
}

TEST_CASE("remote listing: sha256 and modes parse; odd names are left out") {
  std::string sha(64, 'a');
  std::string out = sha + "  ./x.sh\n" + std::string(64, 'b') + "  ./dir/y z\n\\" + sha +
                    "  ./we\\nird\n--rc-modes--\n755 ./x.sh\n600 ./dir/y z\n";
  auto m = rd::parse_remote_listing(out);
  REQUIRE(m.size() == 2);
  CHECK(m["./x.sh"].sha256 == sha);
  CHECK(m["./x.sh"].mode == 0755);
  CHECK(m["./dir/y z"].mode == 0600);
  // The listing command itself, on this machine.
  rctest::TempDir d;
  rd::make_dirs(d.path + "/t/sub");
  rd::write_file_atomic(d.path + "/t/sub/f", "hello\n", 0640);
  auto [lo, le] = run_locally(rd::remote_listing_command(d.path + "/t", true));
  auto parsed = rd::parse_remote_listing(lo);
  REQUIRE(parsed.count("./sub/f") == 1);
  CHECK(parsed["./sub/f"].sha256 ==
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  CHECK(parsed["./sub/f"].mode == 0640);
  auto [so, se] = run_locally(rd::remote_listing_command(d.path + "/t/sub/f", false));
  CHECK(rd::parse_remote_listing(so).count("./f") == 1);
  auto [mo, me] = run_locally(rd::remote_listing_command(d.path + "/missing", true));
  CHECK(rd::parse_remote_listing(mo).empty());
}

TEST_CASE("known_hosts: names, pinned keys and fingerprints as ssh-keygen prints them") {
  CHECK(rd::known_hosts_name("10.0.0.1", 22) == "10.0.0.1");
  CHECK(rd::known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222");
  rctest::TempDir d;
  std::string key = d.path + "/k";
  rctest::run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key});
  auto pub = rd::split(std::string(rd::trim(rd::read_file(key + ".pub"))), ' ');
  REQUIRE(pub.size() >= 2);
  std::string expected = rctest::keygen_fingerprint(key + ".pub");
  CHECK(raycluster::ssh_fingerprint_sha256(pub[1]) == expected);
  CHECK(raycluster::ssh_fingerprint_sha256("not base64!") == "");
  std::string content = "# comment\n[127.0.0.1]:2222 " + pub[0] + " " + pub[1] +
                        "\nother,[127.0.0.1]:2223 " + pub[0] + " " + pub[1] + "\n";
  auto keys = rd::pinned_keys(content, "127.0.0.1", 2222);
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].key_type == "ssh-ed25519");
  CHECK(keys[0].fingerprint == expected);
  CHECK(rd::pinned_keys(content, "127.0.0.1", 2223).size() == 1);
  CHECK(rd::pinned_keys(content, "127.0.0.1", 22).empty());
}

TEST_CASE("jump host: an OpenSSH ProxyCommand with our key and known_hosts") {
  raycluster::SshOptions o;
  o.host = "10.0.0.5";
  o.user = "ubuntu";
  o.private_key_path = "/k/id";
  o.known_hosts_path = "/s/known_hosts";
  o.jump_host = "admin@bastion:2200";
  auto cmd = rd::jump_proxy_command(o);
  CHECK(cmd.find("-W %h:%p") != std::string::npos);
  CHECK(cmd.find("-p '2200' 'admin@bastion'") != std::string::npos);
  CHECK(cmd.find("UserKnownHostsFile='/s/known_hosts'") != std::string::npos);
  CHECK(cmd.find("-i '/k/id'") != std::string::npos);
  CHECK(rd::ssh_node_name(o) == "ubuntu@10.0.0.5:22");
}
