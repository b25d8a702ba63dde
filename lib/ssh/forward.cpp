#include "ssh/forward.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <thread>
#include <vector>

#include "util/error.hpp"
#include "ssh/session.hpp"

namespace raycluster::detail {
namespace {

constexpr std::size_t kMaxPending = 256 * 1024;

struct Conn {
  int fd = -1;
  int peer_port = 0;
  ssh_channel ch = nullptr;
  bool local_eof = false;   // the client sent FIN (forwarded as channel EOF)
  bool remote_eof = false;  // the node sent EOF (forwarded as shutdown(SHUT_WR))
  std::string to_local;     // from the node, not yet written to the client
};

class Forward : public PortForward {
 public:
  Forward(const SshOptions& options, const std::string& remote_host, int remote_port)
      : session_(options), remote_host_(remote_host), remote_port_(remote_port) {}

  ~Forward() override {
    if (thread_.joinable()) {
      char c = 'x';
      while (::write(wake_[1], &c, 1) < 0 && errno == EINTR) {
      }
      thread_.join();
    }
    for (int fd : {listen_fd_, wake_[0], wake_[1]})
      if (fd >= 0) ::close(fd);
  }

  void start(int local_port) {
    session_.connect(CancelToken{}, SshClock::now() + session_.options().connect_timeout);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw Error(ErrorCode::io, "forward: socket failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(local_port));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0)
      throw Error(ErrorCode::io, "forward to " + session_.name() + ": cannot listen on 127.0.0.1:" +
                                     std::to_string(local_port) + ": " + std::strerror(errno));
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
      throw Error(ErrorCode::io, "forward: pipe failed");
    thread_ = std::thread([this] { loop(); });
  }

  int local_port() const override { return port_; }
  std::uint64_t connections() const override { return accepted_.load(); }

 private:
  void close_conn(Conn& c) {
    if (c.ch) {
      if (session_.connected()) {
        if (ssh_channel_is_open(c.ch)) ssh_channel_close(c.ch);
        ssh_channel_free(c.ch);
      }
      c.ch = nullptr;
    }
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
  }

  void accept_one() {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    ++accepted_;
    Conn c;
    c.fd = fd;
    c.peer_port = ntohs(peer.sin_port);
    for (int attempt = 0; attempt < 2 && !c.ch; ++attempt) {
      try {
        if (!session_.connected()) {
          drop_all();
          session_.connect(CancelToken{}, SshClock::now() + session_.options().connect_timeout);
        }
      } catch (const Error&) {
        break;
      }
      ssh_channel ch = ssh_channel_new(session_.raw());
      if (ch && ssh_channel_open_forward(ch, remote_host_.c_str(), remote_port_, "127.0.0.1",
                                         c.peer_port) == SSH_OK) {
        c.ch = ch;
        break;
      }
      if (ch) ssh_channel_free(ch);
      if (session_.connected()) break;  // refused by the node (nothing listening): no retry
    }
    if (!c.ch) {
      ::close(fd);
      return;
    }
    conns_.push_back(std::move(c));
  }

  void drop_all() {
    for (auto& c : conns_) close_conn(c);
    conns_.clear();
  }

  // Moves data both ways for one connection; false when it is finished.
  bool pump(Conn& c, bool readable) {
    char buf[32768];
    if (readable && !c.local_eof) {
      ssize_t n = ::read(c.fd, buf, sizeof buf);
      if (n > 0) {
        if (ssh_channel_write(c.ch, buf, static_cast<uint32_t>(n)) == SSH_ERROR) return false;
      } else if (n == 0) {
        c.local_eof = true;
        ssh_channel_send_eof(c.ch);
      } else if (errno != EAGAIN && errno != EINTR) {
        return false;
      }
    }
    while (c.to_local.size() < kMaxPending && !c.remote_eof) {
      int n = ssh_channel_read_nonblocking(c.ch, buf, sizeof buf, 0);
      if (n == SSH_ERROR) return false;
      if (n > 0) {
        c.to_local.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (ssh_channel_is_eof(c.ch) || ssh_channel_is_closed(c.ch)) c.remote_eof = true;
      break;
    }
    while (!c.to_local.empty()) {
      ssize_t w = ::write(c.fd, c.to_local.data(), c.to_local.size());
      if (w > 0) {
        c.to_local.erase(0, static_cast<std::size_t>(w));
        continue;
      }
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
      return false;  // the client went away
    }
    if (c.remote_eof && c.to_local.empty()) {
      ::shutdown(c.fd, SHUT_WR);
      if (c.local_eof || ssh_channel_is_closed(c.ch)) return false;
    }
    return true;
  }

  void loop() {
    std::vector<pollfd> pfds;
    for (;;) {
      pfds.clear();
      pfds.push_back({wake_[0], POLLIN, 0});
      pfds.push_back({listen_fd_, POLLIN, 0});
      int sfd = session_.connected() ? ssh_get_fd(session_.raw()) : -1;
      pfds.push_back({sfd, POLLIN, 0});
      for (auto& c : conns_) {
        short ev = 0;
        if (!c.local_eof) ev |= POLLIN;
        if (!c.to_local.empty()) ev |= POLLOUT;
        pfds.push_back({c.fd, ev, 0});
      }
      // libssh may hold data it already read from the socket for any channel,
      // so with open connections the loop also wakes on a short tick.
      int timeout = conns_.empty() ? 1000 : 20;
      ::poll(pfds.data(), pfds.size(), timeout);
      if (pfds[0].revents & POLLIN) break;
      if (pfds[1].revents & POLLIN) accept_one();
      std::size_t i = 3;
      for (auto it = conns_.begin(); it != conns_.end(); ++i) {
        short rev = i < pfds.size() ? pfds[i].revents : 0;
        bool readable = rev & (POLLIN | POLLHUP | POLLERR);
        if (!pump(*it, readable)) {
          close_conn(*it);
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
      if (session_.connected() && ssh_is_connected(session_.raw()) == 0) drop_all();
      session_.maybe_keepalive();
    }
    drop_all();
    session_.close();
  }

  SshSession session_;
  std::string remote_host_;
  int remote_port_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::list<Conn> conns_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<PortForward> start_forward(const SshOptions& options, int local_port,
                                           const std::string& remote_host, int remote_port) {
  auto f = std::make_unique<Forward>(options, remote_host, remote_port);
  f->start(local_port);
  return f;
}

}  // namespace raycluster::detail
