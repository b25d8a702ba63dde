#include "ssh/attach.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "util/error.hpp"

namespace raycluster::detail {
namespace {

class RawMode {
 public:
  explicit RawMode(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
  }
  ~RawMode() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      pollfd pf{fd, POLLOUT, 0};
      ::poll(&pf, 1, 100);
      continue;
    }
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

int attach_on_session(SshSession& session, int in_fd, int out_fd, const AttachOptions& options) {
  ssh_channel ch = ssh_channel_new(session.raw());
  if (!ch) throw Error(ErrorCode::unavailable, session.error_text("cannot open a channel"), true);
  struct Guard {
    ssh_channel ch;
    ~Guard() {
      if (ssh_channel_is_open(ch)) ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  } guard{ch};
  if (ssh_channel_open_session(ch) != SSH_OK)
    throw Error(ErrorCode::unavailable, session.error_text("cannot open a session channel"), true);
  int cols = options.cols, rows = options.rows;
  winsize ws{};
  if (::isatty(in_fd) && ::ioctl(in_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    cols = ws.ws_col;
    rows = ws.ws_row;
  }
  if (ssh_channel_request_pty_size(ch, options.term.c_str(), cols, rows) != SSH_OK)
    throw Error(ErrorCode::unavailable, session.error_text("the node refused a terminal"));
  int rc = options.command.empty() ? ssh_channel_request_shell(ch)
                                   : ssh_channel_request_exec(ch, options.command.c_str());
  if (rc != SSH_OK) throw Error(ErrorCode::unavailable, session.error_text("the node refused a shell"));

  RawMode raw(in_fd);
  bool in_open = true;
  char buf[16384];
  for (;;) {
    pollfd pf[2];
    nfds_t n = 0;
    pf[n++] = {ssh_get_fd(session.raw()), POLLIN, 0};
    if (in_open) pf[n++] = {in_fd, POLLIN, 0};
    ::poll(pf, n, 50);
    if (in_open && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = ::read(in_fd, buf, sizeof buf);
      if (r > 0) {
        if (ssh_channel_write(ch, buf, static_cast<uint32_t>(r)) == SSH_ERROR)
          throw Error(ErrorCode::unavailable, session.error_text("the connection dropped"), true);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_open = false;
        const char eot = 4;  // Ctrl-D: the shell ends once it has read what came before
        ssh_channel_write(ch, &eot, 1);
      }
    }
    for (int is_stderr = 0; is_stderr < 2; ++is_stderr) {
      for (;;) {
        int r = ssh_channel_read_nonblocking(ch, buf, sizeof buf, is_stderr);
        if (r == SSH_ERROR)
          throw Error(ErrorCode::unavailable, session.error_text("the connection dropped"), true);
        if (r <= 0) break;
        if (!write_all(out_fd, buf, static_cast<std::size_t>(r))) break;
      }
    }
    if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) break;
    session.maybe_keepalive();
  }
  return ssh_channel_get_exit_status(ch);
}

}  // namespace raycluster::detail
