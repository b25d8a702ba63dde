#include "ssh/session.hpp"

#include <libssh/server.h>  // ssh_send_keepalive (client side too)
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "util/error.hpp"
#include "ssh/known_hosts.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

struct PassphraseProbe {
  bool asked = false;
};

// libssh asks for a passphrase only for an encrypted key; we never have one
// (passphrase-protected keys go through the agent), so refuse and remember.
int refuse_passphrase(const char*, char*, size_t, int, int, void* userdata) {
  static_cast<PassphraseProbe*>(userdata)->asked = true;
  return -1;
}

std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

std::string ssh_node_name(const SshOptions& o) {
  return (o.user.empty() ? std::string() : o.user + "@") + o.host + ":" + std::to_string(o.port);
}

std::string jump_proxy_command(const SshOptions& o) {
  std::string jump = o.jump_host;
  std::string port;
  auto at = jump.find('@');
  auto colon = jump.rfind(':');
  if (colon != std::string::npos && (at == std::string::npos || colon > at) &&
      jump.find(']') == std::string::npos) {
    port = jump.substr(colon + 1);
    jump = jump.substr(0, colon);
  }
  std::string cmd = "exec ssh -W %h:%p -o BatchMode=yes -o IdentitiesOnly=yes -F /dev/null";
  cmd += " -o StrictHostKeyChecking=accept-new";
  cmd += " -o UserKnownHostsFile=" + shell_quote(o.known_hosts_path);
  cmd += " -o ConnectTimeout=" +
         std::to_string(std::max<long long>(1, (o.connect_timeout.count() + 999) / 1000));
  if (!o.private_key_path.empty()) cmd += " -i " + shell_quote(o.private_key_path);
  if (!port.empty()) cmd += " -p " + shell_quote(port);
  cmd += " " + shell_quote(jump);
  return cmd;
}

SshSession::SshSession(const SshOptions& options)
    : options_(options), name_(ssh_node_name(options)) {}

SshSession::~SshSession() { close(); }

bool SshSession::connected() const {
  return session_ != nullptr && connected_ && ssh_is_connected(session_) != 0;
}

void SshSession::close() {
  if (session_) {
    if (before_close_) before_close_();
    if (connected_) ssh_disconnect(session_);
    ssh_free(session_);
  }
  session_ = nullptr;
  connected_ = false;
}

std::string SshSession::error_text(const std::string& what) const {
  std::string s = name_ + ": " + what;
  const char* e = session_ ? ssh_get_error(session_) : nullptr;
  if (e && *e) s += ": " + std::string(e);
  return s;
}

void SshSession::connect(const CancelToken& cancel, SshClock::time_point deadline) {
  close();
  if (options_.host.empty())
    throw Error(ErrorCode::invalid_argument, "ssh: no host given for " + name_);
  if (options_.known_hosts_path.empty())
    throw Error(ErrorCode::invalid_argument,
                name_ + ": no known_hosts file given (host keys are always pinned)");
  session_ = ssh_new();
  if (!session_) throw Error(ErrorCode::internal, name_ + ": ssh_new failed");

  auto set = [&](enum ssh_options_e opt, const void* value, const char* what) {
    if (ssh_options_set(session_, opt, value) != SSH_OK)
      throw Error(ErrorCode::invalid_argument, error_text(std::string("bad ssh option ") + what));
  };
  int no = 0, yes = 1;
  set(SSH_OPTIONS_PROCESS_CONFIG, &no, "process_config");  // never ~/.ssh/config
  set(SSH_OPTIONS_HOST, options_.host.c_str(), "host");
  unsigned int port = static_cast<unsigned int>(options_.port);
  set(SSH_OPTIONS_PORT, &port, "port");
  if (!options_.user.empty()) set(SSH_OPTIONS_USER, options_.user.c_str(), "user");
  set(SSH_OPTIONS_KNOWNHOSTS, options_.known_hosts_path.c_str(), "known_hosts");
  set(SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null", "global_known_hosts");
  set(SSH_OPTIONS_NODELAY, &yes, "nodelay");
  set(SSH_OPTIONS_PASSWORD_AUTH, &no, "password_auth");
  set(SSH_OPTIONS_KBDINT_AUTH, &no, "kbdint_auth");
  set(SSH_OPTIONS_GSSAPI_AUTH, &no, "gssapi_auth");
  long io_us = static_cast<long>(options_.io_timeout.count()) * 1000;
  long io_s = io_us / 1000000;
  io_us %= 1000000;
  set(SSH_OPTIONS_TIMEOUT, &io_s, "timeout");
  set(SSH_OPTIONS_TIMEOUT_USEC, &io_us, "timeout_usec");
  if (!options_.agent_socket.empty())
    set(SSH_OPTIONS_IDENTITY_AGENT, options_.agent_socket.c_str(), "identity_agent");
  std::string proxy = options_.proxy_command;
  if (proxy.empty() && !options_.jump_host.empty()) proxy = jump_proxy_command(options_);
  if (!proxy.empty()) set(SSH_OPTIONS_PROXYCOMMAND, proxy.c_str(), "proxy_command");

  // Non-blocking handshake so that cancel and the per-attempt timeout act at once.
  auto attempt_deadline = std::min(deadline, SshClock::now() + options_.connect_timeout);
  ssh_set_blocking(session_, 0);
  for (;;) {
    int rc = ssh_connect(session_);
    if (rc == SSH_OK) break;
    if (rc == SSH_ERROR) {
      std::string msg = error_text("cannot connect");
      close();
      throw Error(ErrorCode::unavailable, msg, true);
    }
    if (cancel.cancelled()) {
      close();
      throw Error(ErrorCode::cancelled, name_ + ": connecting cancelled");
    }
    if (SshClock::now() >= attempt_deadline) {
      close();
      throw Error(ErrorCode::unavailable,
                  name_ + ": cannot connect: no SSH handshake within " +
                      seconds_text(options_.connect_timeout),
                  true);
    }
    int fd = ssh_get_fd(session_);
    if (fd >= 0) {
      struct pollfd p {fd, POLLIN, 0};
      ::poll(&p, 1, 10);
    } else {
      cancel.sleep_for(std::chrono::milliseconds(5));
    }
  }
  ssh_set_blocking(session_, 1);
  connected_ = true;
  int fd = ssh_get_fd(session_);
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof yes);
  try {
    verify_host_key();
    authenticate();
  } catch (...) {
    close();
    throw;
  }
  last_keepalive_ = SshClock::now();
}

void SshSession::verify_host_key() {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(session_, &key) != SSH_OK)
    throw Error(ErrorCode::unavailable, error_text("no host key from the node"), true);
  std::string offered = key_fingerprint(key);
  const char* type_name = ssh_key_type_to_char(ssh_key_type(key));
  std::string offered_type = type_name ? type_name : "?";
  ssh_key_free(key);

  auto mismatch = [&]() {
    std::string pinned;
    for (const auto& e : pinned_keys(read_known_hosts(options_.known_hosts_path), options_.host,
                                     options_.port)) {
      if (!pinned.empty()) pinned += ", ";
      pinned += e.fingerprint + " (" + e.key_type + ")";
    }
    if (pinned.empty()) pinned = "another key";
    return Error(ErrorCode::auth,
                 name_ + ": host key mismatch: the node offers " + offered + " (" + offered_type +
                     ") but " + options_.known_hosts_path + " pins " + pinned +
                     "; refusing to connect (if the node was rebuilt, remove its line from that "
                     "file)");
  };

  auto state = ssh_session_is_known_server(session_);
  if (state == SSH_KNOWN_HOSTS_OK) return;
  if (state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER) throw mismatch();
  if (state == SSH_KNOWN_HOSTS_ERROR)
    throw Error(ErrorCode::auth, error_text("cannot check the host key against " +
                                            options_.known_hosts_path));

  // First contact: record the key. Under a lock, re-checked, so runners of one
  // cluster that meet a node at the same time record it once.
  auto parent = std::filesystem::path(options_.known_hosts_path).parent_path().string();
  if (!parent.empty()) make_dirs(parent, 0700);
  FileLock lock(options_.known_hosts_path + ".lock", true);
  state = ssh_session_is_known_server(session_);
  if (state == SSH_KNOWN_HOSTS_OK) return;
  if (state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER) throw mismatch();
  char* line = nullptr;
  if (ssh_session_export_known_hosts_entry(session_, &line) != SSH_OK || !line)
    throw Error(ErrorCode::internal, error_text("cannot format the host key"));
  std::string entry = line;
  ssh_string_free_char(line);
  if (entry.empty() || entry.back() != '\n') entry += '\n';
  std::string content =
      path_exists(options_.known_hosts_path) ? read_file(options_.known_hosts_path) : "";
  if (!content.empty() && content.back() != '\n') content += '\n';
  write_file_atomic(options_.known_hosts_path, content + entry, 0600);
}

void SshSession::authenticate() {
  const std::string& key_path = options_.private_key_path;
  bool encrypted = false;
  std::string refused;
  if (!key_path.empty()) {
    if (!path_exists(key_path))
      throw Error(ErrorCode::auth, name_ + ": private key file " + key_path + " does not exist");
    check_private_key_permissions(key_path, name_);
    PassphraseProbe probe;
    ssh_key key = nullptr;
    int rc = ssh_pki_import_privkey_file(key_path.c_str(), nullptr, refuse_passphrase, &probe,
                                         &key);
    if (rc != SSH_OK) {
      if (key) ssh_key_free(key);
      std::string head;
      try {
        head = read_file(key_path, 1 << 20);
      } catch (const Error&) {
      }
      encrypted = probe.asked || head.find("ENCRYPTED") != std::string::npos;
      if (!encrypted)
        throw Error(ErrorCode::auth, name_ + ": cannot read private key file " + key_path +
                                         " (not an OpenSSH or PEM private key, or unreadable)");
    } else {
      rc = ssh_userauth_publickey(session_, nullptr, key);
      ssh_key_free(key);
      if (rc == SSH_AUTH_SUCCESS) return;
      if (rc == SSH_AUTH_ERROR)
        throw Error(ErrorCode::unavailable, error_text("authentication failed"), true);
      refused = "the node refused the key " + key_path;
    }
  }
  if (!options_.agent_socket.empty()) {
    int rc = ssh_userauth_agent(session_, nullptr);
    if (rc == SSH_AUTH_SUCCESS) return;
    if (refused.empty() && !encrypted) refused = "no key of the ssh-agent was accepted";
  }
  if (encrypted) {
    std::string msg = name_ + ": private key file " + key_path +
                      " is protected by a passphrase; load it into an ssh-agent (ssh-add " +
                      key_path + ") and pass the agent's socket";
    if (!options_.agent_socket.empty())
      msg = name_ + ": private key file " + key_path +
            " is protected by a passphrase and the ssh-agent at " + options_.agent_socket +
            " does not hold it (ssh-add " + key_path + ")";
    throw Error(ErrorCode::auth, msg);
  }
  if (refused.empty()) refused = "no private key file or ssh-agent given";
  // A key can be refused while the node still boots (cloud-init installs it
  // late), so this one is worth retrying.
  throw Error(ErrorCode::auth, name_ + ": authentication failed: " + refused, true);
}

void SshSession::maybe_keepalive() {
  if (!connected() || options_.keepalive_interval.count() <= 0) return;
  auto now = SshClock::now();
  if (now - last_keepalive_ < options_.keepalive_interval) return;
  last_keepalive_ = now;
  ssh_send_keepalive(session_);
}

}  // namespace raycluster::detail

namespace raycluster {

void check_private_key_permissions(const std::string& path, const std::string& who) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // reading it reports what is wrong
  if (st.st_uid != ::getuid() || (st.st_mode & 077) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  throw Error(ErrorCode::auth, who + ": private key file " + path + " has permissions " + mode +
                                   ", too open: OpenSSH ignores a private key that others can "
                                   "read (bad permissions); run chmod 600 " + path);
}

}  // namespace raycluster
