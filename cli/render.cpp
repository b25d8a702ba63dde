#include "render.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "util/strings.hpp"

namespace raycluster::cli {

Renderer::Renderer(bool tty, bool verbose) : tty_(tty), verbose_(verbose) {}
Renderer::~Renderer() { finish(); }

void Renderer::clear_block() {
  if (!tty_ || drawn_ == 0) return;
  std::fprintf(stderr, "\x1b[%dF", drawn_);
  for (int i = 0; i < drawn_; ++i) std::fprintf(stderr, "\x1b[2K\n");
  std::fprintf(stderr, "\x1b[%dF", drawn_);
  drawn_ = 0;
}

void Renderer::redraw() {
  if (!tty_) return;
  clear_block();
  // A wrapped line would break the cursor arithmetic: fit every line.
  int width = 100;
  struct winsize ws {};
  if (::ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) width = ws.ws_col;
  const std::size_t room = width > 60 ? static_cast<std::size_t>(width - 60) : 0;
  for (const auto& id : order_) {
    const auto& n = nodes_[id];
    std::string last = n.last;
    if (last.size() > room) last = room > 3 ? last.substr(0, room - 3) + "..." : "";
    const char* color = n.status == "up-to-date"      ? "\x1b[32m"
                        : n.status == "update-failed" ? "\x1b[31m"
                        : n.status == "terminated"    ? "\x1b[90m"
                                                      : "\x1b[33m";
    std::fprintf(stderr, "  %-20.20s %-18.18s %s%-15.15s\x1b[0m %s\n", id.c_str(), n.type.c_str(),
                 color, n.status.c_str(), last.c_str());
    ++drawn_;
  }
  if (!progress_.empty()) {
    std::string p = progress_;
    if (static_cast<int>(p.size()) > width - 3) p = p.substr(0, static_cast<std::size_t>(std::max(0, width - 3)));
    std::fprintf(stderr, "  %s\n", p.c_str());
    ++drawn_;
  }
  std::fflush(stderr);
}

void Renderer::line(const std::string& raw, bool is_error) {
  const std::string text = detail::terminal_safe(raw, true);
  std::lock_guard<std::mutex> lock(mu_);
  clear_block();
  std::fprintf(stderr, "%s%s%s\n", is_error && tty_ ? "\x1b[31m" : "", text.c_str(),
               is_error && tty_ ? "\x1b[0m" : "");
  redraw();
}

void Renderer::on_event(const Event& raw) {
  // Node ids, type names, statuses and messages come from configs, nodes,
  // clouds and Ray: none of their bytes may drive the terminal.
  Event e = raw;
  e.node_id = detail::terminal_safe(raw.node_id);
  e.node_type = detail::terminal_safe(raw.node_type);
  e.status = detail::terminal_safe(raw.status);
  e.message = detail::terminal_safe(raw.message, true);
  std::lock_guard<std::mutex> lock(mu_);
  if (!e.node_id.empty() && !nodes_.count(e.node_id)) {
    order_.push_back(e.node_id);
    nodes_[e.node_id] = {e.node_type, "uninitialized", ""};
  }
  switch (e.kind) {
    case EventKind::node_status:
      nodes_[e.node_id].status = e.status;
      if (!tty_) std::fprintf(stderr, "[%s] %s\n", e.node_id.c_str(), e.status.c_str());
      break;
    case EventKind::progress:
      progress_ = std::to_string(e.done) + "/" + std::to_string(e.total) + " " + e.message;
      if (!tty_) std::fprintf(stderr, "progress %d/%d %s\n", e.done, e.total, e.message.c_str());
      break;
    case EventKind::log:
      if (e.level == LogLevel::debug && !verbose_) return;
      if (!e.node_id.empty()) {
        nodes_[e.node_id].last = e.message;
        if (!tty_) {
          std::fprintf(stderr, "[%s] %s\n", e.node_id.c_str(), e.message.c_str());
        } else if (e.level >= LogLevel::warning || verbose_) {
          clear_block();
          std::fprintf(stderr, "[%s] %s\n", e.node_id.c_str(), e.message.c_str());
        }
      } else {
        clear_block();
        const char* prefix = e.level == LogLevel::error     ? "error: "
                             : e.level == LogLevel::warning ? "warning: "
                                                            : "";
        std::fprintf(stderr, "%s%s\n", prefix, e.message.c_str());
      }
      break;
  }
  redraw();
  if (!tty_) std::fflush(stderr);
}

void Renderer::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_ && drawn_ > 0) {
    // Leave the final state on screen.
    drawn_ = 0;
  }
  std::fflush(stderr);
}

}  // namespace raycluster::cli
