#include "sshd_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "util/fs.hpp"
#include "util/ids.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace rctest {

namespace rd = raycluster::detail;
using namespace std::chrono_literals;

static const char* kSshd = "/usr/sbin/sshd";

TempDir::TempDir() {
  std::string tmpl = "/tmp/rc-ssh-test-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}
TempDir::~TempDir() { rd::remove_tree(path); }

std::string run_ok(const std::vector<std::string>& argv) {
  rd::ProcessSpec spec;
  spec.argv = argv;
  spec.timeout = 60s;
  std::string out, err;
  spec.on_line = [&](std::string_view line, bool is_stderr) {
    (is_stderr ? err : out).append(line).push_back('\n');
  };
  auto r = rd::run_process(spec);
  if (!r.ok())
    throw std::runtime_error(rd::join(argv, " ") + " failed (" + std::to_string(r.exit_status) +
                             "): " + err);
  return out;
}

std::string keygen_fingerprint(const std::string& pub_path) {
  // "256 SHA256:xxxx comment (ED25519)"
  auto out = run_ok({"ssh-keygen", "-l", "-E", "sha256", "-f", pub_path});
  auto fields = rd::split(std::string(rd::trim(out)), ' ');
  if (fields.size() < 2) throw std::runtime_error("ssh-keygen -l: " + out);
  return fields[1];
}

std::string current_user() {
  struct passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : "root";
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

SilentServer::SilentServer() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
    throw std::runtime_error("SilentServer: cannot listen on 127.0.0.1");
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

SilentServer::~SilentServer() {
  if (fd_ >= 0) ::close(fd_);
}

static std::string cmdline_of(const std::string& pid) {
  try {
    auto s = rd::read_file("/proc/" + pid + "/cmdline", 1 << 16);
    for (auto& c : s)
      if (c == '\0') c = ' ';
    return s;
  } catch (...) {
    return {};
  }
}

std::vector<pid_t> processes_matching(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& p : rd::list_processes()) {
    if (p.pid == ::getpid()) continue;
    if (cmdline_of(std::to_string(p.pid)).find(needle) != std::string::npos) out.push_back(p.pid);
  }
  return out;
}

static void require_openssh() {
  if (::access(kSshd, X_OK) != 0 || ::access("/usr/bin/ssh-keygen", X_OK) != 0)
    throw std::runtime_error(
        "OpenSSH's sshd (/usr/sbin/sshd) or ssh-keygen is missing: run scripts/setup.sh "
        "(it installs openssh-server and openssh-client)");
}

const UserKeys& UserKeys::get() {
  static UserKeys keys;
  return keys;
}

UserKeys::UserKeys() {
  require_openssh();
  ed25519 = dir_.path + "/id_ed25519";
  rsa_pem = dir_.path + "/id_rsa_pem";
  encrypted = dir_.path + "/id_encrypted";
  run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rc-test", "-f", ed25519});
  run_ok({"ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "rc-pem",
          "-f", rsa_pem});
  run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-C", "rc-enc", "-f", encrypted});
  for (const auto& k : {ed25519, rsa_pem, encrypted}) authorized_keys += rd::read_file(k + ".pub");
}

Sshd::Sshd(bool start_now) {
  require_openssh();
  port_ = free_port();
  make_host_key();
  const auto& keys = UserKeys::get();
  rd::write_file_atomic(dir_.path + "/authorized_keys", keys.authorized_keys, 0600);
  std::string cfg;
  cfg += "Port " + std::to_string(port_) + "\n";
  cfg += "ListenAddress 127.0.0.1\n";
  cfg += "HostKey " + dir_.path + "/host_key\n";
  cfg += "PidFile " + dir_.path + "/sshd.pid\n";
  cfg += "AuthorizedKeysFile " + dir_.path + "/authorized_keys\n";
  cfg += "PubkeyAuthentication yes\n";
  cfg += "PasswordAuthentication no\n";
  cfg += "KbdInteractiveAuthentication no\n";
  cfg += "UsePAM no\n";
  cfg += "PermitRootLogin prohibit-password\n";
  cfg += "StrictModes no\n";
  cfg += "Subsystem sftp internal-sftp\n";
  cfg += "AllowTcpForwarding yes\n";
  // Many runners connect at once in one test; sshd's default (10:30:100)
  // would drop some of the unauthenticated connections on purpose.
  cfg += "MaxStartups 200\n";
  cfg += "MaxSessions 200\n";
  cfg += "LogLevel VERBOSE\n";
  rd::write_file_atomic(dir_.path + "/sshd_config", cfg, 0600);
  if (::geteuid() == 0) rd::make_dirs("/run/sshd", 0755);
  if (start_now) start();
}

Sshd::~Sshd() { stop(); }

void Sshd::make_host_key() {
  std::string k = dir_.path + "/host_key";
  ::unlink(k.c_str());
  ::unlink((k + ".pub").c_str());
  run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", k});
}

std::string Sshd::host_key_fingerprint() const {
  return keygen_fingerprint(dir_.path + "/host_key.pub");
}

void Sshd::start() {
  if (pid_ > 0) return;
  std::string cfg = dir_.path + "/sshd_config";
  std::string log = dir_.path + "/sshd.log";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::setpgid(0, 0);
    ::execl(kSshd, kSshd, "-D", "-e", "-f", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  // Ready once it accepts TCP connections.
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(fd);
    if (rc == 0) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::string l;
      try {
        l = rd::read_file(log);
      } catch (...) {
      }
      throw std::runtime_error("sshd exited at start: " + l);
    }
    std::this_thread::sleep_for(10ms);
  }
  throw std::runtime_error("sshd did not listen on port " + std::to_string(port_));
}

// Every process below pid (per-connection servers, sessions, commands).
static std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // pid, ppid
  for (const auto& name : rd::list_dir("/proc")) {
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat;
    try {
      stat = rd::read_file("/proc/" + name + "/stat", 1 << 16);
    } catch (...) {
      continue;
    }
    auto rp = stat.rfind(')');
    if (rp == std::string::npos || rp + 4 >= stat.size()) continue;
    // ") S ppid ..."
    auto fields = rd::split(stat.substr(rp + 2), ' ');
    if (fields.size() < 2) continue;
    parent_of.emplace_back(std::stoi(name), std::stoi(fields[1]));
  }
  std::vector<pid_t> out{root};
  for (std::size_t i = 0; i < out.size(); ++i)
    for (const auto& [pid, ppid] : parent_of)
      if (ppid == out[i]) out.push_back(pid);
  out.erase(out.begin());
  return out;
}

void Sshd::drop_connections() {
  if (pid_ <= 0) return;
  for (pid_t p : descendants(pid_)) ::kill(p, SIGKILL);
}

void Sshd::stop() {
  if (pid_ <= 0) return;
  auto children = descendants(pid_);
  ::kill(pid_, SIGTERM);
  for (pid_t p : children) ::kill(p, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Sshd::restart_with_new_host_key() {
  stop();
  make_host_key();
  start();
}

raycluster::SshOptions Sshd::options(const std::string& state_dir) const {
  raycluster::SshOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.user = current_user();
  o.private_key_path = UserKeys::get().ed25519;
  o.known_hosts_path = state_dir + "/known_hosts";
  o.connect_timeout = 5s;
  o.io_timeout = 30s;
  return o;
}

}  // namespace rctest
