#include "ssh/exec.hpp"

#include <libssh/callbacks.h>

#include <deque>
#include <optional>

#include "ssh/remote_command.hpp"

namespace raycluster::detail {
namespace {

using namespace std::chrono_literals;

struct ExitInfo {
  int status = -1;
  int signal = 0;
  bool exited = false;
  SshClock::time_point exited_at{};
};

void on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*,
                    void* userdata) {
  auto* info = static_cast<ExitInfo*>(userdata);
  if (signal) info->signal = signal_number(signal);
  info->exited = true;
  info->exited_at = SshClock::now();
}

void on_exit_status(ssh_session, ssh_channel, int status, void* userdata) {
  auto* info = static_cast<ExitInfo*>(userdata);
  info->status = status;
  info->exited = true;
  info->exited_at = SshClock::now();
}

// After the command exits, how long output of background children that kept
// its stdout/stderr (so the channel stays open) is still read, as locally.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(300);

class Output {
 public:
  Output(const CommandOptions& options, bool login_shell)
      : options_(options), login_shell_(login_shell) {}

  void feed(const char* data, std::size_t n, bool is_stderr) {
    std::string& buf = is_stderr ? err_ : out_;
    buf.append(data, n);
    std::size_t start = 0;
    for (;;) {
      auto nl = buf.find('\n', start);
      if (nl == std::string::npos) break;
      emit(std::string_view(buf).substr(start, nl - start), is_stderr);
      start = nl + 1;
    }
    buf.erase(0, start);
    if (buf.size() > 65536) {
      emit(buf, is_stderr);
      buf.clear();
    }
  }
  void flush() {
    if (!out_.empty()) emit(out_, false);
    if (!err_.empty()) emit(err_, true);
    out_.clear();
    err_.clear();
  }
  std::optional<long> pgid() const { return pgid_; }
  std::string tail() const {
    std::string s;
    for (const auto& l : tail_) s += l + "\n";
    return s;
  }

 private:
  void emit(std::string_view line, bool is_stderr) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!is_stderr && !seen_first_) {
      seen_first_ = true;
      if (auto p = parse_pgid_marker(line)) {
        pgid_ = p;
        return;
      }
    }
    if (is_stderr && login_shell_ && is_login_shell_noise(line)) return;
    if (options_.on_line) options_.on_line(line, is_stderr);
    tail_.emplace_back(line);
    while (tail_.size() > 40) tail_.pop_front();
  }

  const CommandOptions& options_;
  bool login_shell_;
  std::string out_, err_;
  bool seen_first_ = false;
  std::optional<long> pgid_;
  std::deque<std::string> tail_;
};

struct Channel {
  ssh_channel ch = nullptr;
  ~Channel() {
    if (ch) {
      if (ssh_channel_is_open(ch)) ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  }
};

// Reads what is buffered; returns false when the connection failed.
bool drain(ssh_channel ch, Output& out) {
  char buf[16384];
  for (int is_stderr = 0; is_stderr < 2; ++is_stderr) {
    for (;;) {
      int n = ssh_channel_read_nonblocking(ch, buf, sizeof buf, is_stderr);
      if (n == SSH_ERROR) return false;
      if (n <= 0) break;
      out.feed(buf, static_cast<std::size_t>(n), is_stderr != 0);
    }
  }
  return true;
}

// Signals the remote process group from a second channel; best effort.
void signal_remote_group(SshSession& session, ssh_channel ch, std::optional<long> pgid, bool hard) {
  if (!pgid) {  // not started far enough to say: signal the shell sshd started
    ssh_channel_request_send_signal(ch, hard ? "KILL" : "TERM");
    return;
  }
  Channel killer;
  killer.ch = ssh_channel_new(session.raw());
  if (!killer.ch || ssh_channel_open_session(killer.ch) != SSH_OK ||
      ssh_channel_request_exec(killer.ch, kill_group_command(*pgid, hard).c_str()) != SSH_OK) {
    ssh_channel_request_send_signal(ch, "KILL");
    return;
  }
  auto until = SshClock::now() + 5s;
  char buf[1024];
  while (SshClock::now() < until) {
    int n = ssh_channel_read_timeout(killer.ch, buf, sizeof buf, 0, 100);
    if (n == SSH_ERROR || (n == 0 && ssh_channel_is_eof(killer.ch))) break;
  }
}

}  // namespace

CommandResult run_on_session(SshSession& session, const std::string& command,
                             const CommandOptions& options, bool login_shell) {
  std::string remote = remote_command(command, options.env, login_shell);
  // Declared before the channel: closing it (also when on_line throws) may
  // still call the callbacks.
  ExitInfo exit_info;
  struct ssh_channel_callbacks_struct callbacks {};
  callbacks.userdata = &exit_info;
  callbacks.channel_exit_signal_function = on_exit_signal;
  callbacks.channel_exit_status_function = on_exit_status;
  ssh_callbacks_init(&callbacks);
  Channel channel;
  channel.ch = ssh_channel_new(session.raw());
  if (!channel.ch) throw ChannelStartError(session.error_text("cannot open a channel"));
  if (ssh_channel_open_session(channel.ch) != SSH_OK)
    throw ChannelStartError(session.error_text("cannot open a session channel"));
  ssh_set_channel_callbacks(channel.ch, &callbacks);
  if (ssh_channel_request_exec(channel.ch, remote.c_str()) != SSH_OK)
    throw ChannelStartError(session.error_text("the node refused to run a command"));
  ssh_channel_send_eof(channel.ch);  // stdin ends at once

  CommandResult result;
  Output out(options, login_shell);
  auto start = SshClock::now();
  // Once stopping: TERM+HUP to the group, KILL a second later, and give up
  // waiting for the channel to close 3 s after the start of stopping.
  bool stopping = false, killed = false;
  SshClock::time_point stop_started{};
  auto dropped = [&]() {
    out.flush();
    std::string msg = session.error_text("the connection dropped while running a command");
    ssh_remove_channel_callbacks(channel.ch, &callbacks);
    session.close();
    channel.ch = nullptr;  // freed with the session
    throw Error(ErrorCode::unavailable, msg, true);
  };

  for (;;) {
    if (!stopping) {
      bool over = options.timeout.count() > 0 && SshClock::now() - start >= options.timeout;
      bool cancel = options.cancel.cancelled();
      if (over || cancel) {
        result.timed_out = over;
        result.cancelled = cancel && !over;
        if (!drain(channel.ch, out)) dropped();
        signal_remote_group(session, channel.ch, out.pgid(), false);
        stopping = true;
        stop_started = SshClock::now();
      }
    } else if (!killed && SshClock::now() - stop_started >= 1s) {
      signal_remote_group(session, channel.ch, out.pgid(), true);
      killed = true;
    } else if (SshClock::now() - stop_started >= 3s) {
      break;  // no exit status; the channel is closed below
    }
    int p = ssh_channel_poll_timeout(channel.ch, 50, 0);
    if (p == SSH_ERROR) dropped();
    if (!drain(channel.ch, out)) dropped();
    if (ssh_channel_is_eof(channel.ch) || ssh_channel_is_closed(channel.ch)) {
      if (!drain(channel.ch, out)) dropped();
      break;
    }
    if (exit_info.exited && SshClock::now() - exit_info.exited_at >= kDrainAfterExit) break;
    session.maybe_keepalive();
  }
  out.flush();
  if (exit_info.status >= 0) {
    result.exit_status = exit_info.status;
  } else if (exit_info.signal > 0) {
    result.exit_status = 128 + exit_info.signal;
  } else if (ssh_channel_is_eof(channel.ch) || ssh_channel_is_closed(channel.ch)) {
    // sshd sends the status after EOF: wait for it (or the close) briefly.
    int status = ssh_channel_get_exit_status(channel.ch);
    if (exit_info.signal > 0)
      result.exit_status = 128 + exit_info.signal;
    else if (status >= 0)
      result.exit_status = status;
  }
  ssh_remove_channel_callbacks(channel.ch, &callbacks);
  result.output_tail = out.tail();
  return result;
}

}  // namespace raycluster::detail
