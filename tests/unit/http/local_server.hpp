// A tiny scripted HTTP/1.1 server on 127.0.0.1 for transport tests: each
// request gets the next scripted reply (the last one repeats). Keeps
// connections alive, counts accepted connections and records requests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rctest {

struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // before answering
  bool drop_mid_body = false;          // send half the body, then close
  bool close_without_reply = false;    // close as soon as the request is read
};

struct Received {
  std::string method, target, head, body;
};

class LocalServer {
 public:
  explicit LocalServer(std::vector<Reply> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~LocalServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_.load(); }
  std::vector<Received> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++connections_;
      handle(c);  // one connection at a time is enough for these tests
      ::close(c);
    }
  }
  // Serves requests on one connection until the peer closes it.
  void handle(int c) {
    std::string buf;
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!read_some(c, buf)) return;
      }
      Received r;
      r.head = buf.substr(0, end);
      std::size_t clen = 0;
      auto pos = lower(r.head).find("content-length:");
      if (pos != std::string::npos) clen = std::stoul(r.head.substr(pos + 15));
      while (buf.size() < end + 4 + clen)
        if (!read_some(c, buf)) return;
      r.body = buf.substr(end + 4, clen);
      buf.erase(0, end + 4 + clen);
      auto sp1 = r.head.find(' '), sp2 = r.head.find(' ', sp1 + 1);
      r.method = r.head.substr(0, sp1);
      r.target = r.head.substr(sp1 + 1, sp2 - sp1 - 1);
      Reply reply;
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(r);
        reply = script_[std::min(next_, script_.size() - 1)];
        ++next_;
      }
      if (reply.delay.count() > 0) {
        auto until = std::chrono::steady_clock::now() + reply.delay;
        while (!stop_ && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (reply.close_without_reply) return;
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " X\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n";
      if (reply.drop_mid_body) {
        out += reply.body.substr(0, reply.body.size() / 2);
        write_all(c, out);
        return;
      }
      out += reply.body;
      if (!write_all(c, out)) return;
    }
  }
  bool read_some(int c, std::string& buf) {
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      int n = ::poll(&p, 1, 50);
      if (n == 0) continue;
      if (n < 0) return false;
      char tmp[4096];
      ssize_t got = ::recv(c, tmp, sizeof tmp, 0);
      if (got <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(got));
      return true;
    }
    return false;
  }
  static bool write_all(int c, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  static std::string lower(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  std::vector<Reply> script_;
  std::size_t next_ = 0;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::vector<Received> requests_;
  std::thread thread_;
};

}  // namespace rctest
