#include <algorithm>
#include <mutex>

#include "util/error.hpp"
#include "ssh/ssh.hpp"
#include "ssh/attach.hpp"
#include "ssh/exec.hpp"
#include "ssh/forward.hpp"
#include "ssh/session.hpp"
#include "ssh/sftp_transfer.hpp"

namespace raycluster {

using detail::SshClock;

struct SshRunner::Impl {
  explicit Impl(SshOptions o) : options(std::move(o)), session(options), sftp(session) {
    session.set_before_close([this] { sftp.reset(); });
  }
  ~Impl() { session.close(); }

  void connect(const CancelToken& cancel, SshClock::time_point deadline) {
    sftp.reset();
    session.connect(cancel, deadline);
  }
  void ensure_connected(const CancelToken& cancel) {
    if (!session.connected()) connect(cancel, SshClock::now() + options.connect_timeout);
  }
  void drop() {
    sftp.reset();
    session.close();
  }
  // Runs an idempotent operation; reconnects once when the connection was dropped.
  template <typename F>
  void with_reconnect(F&& op) {
    ensure_connected({});
    try {
      op();
      return;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::unavailable) throw;
    }
    drop();
    ensure_connected({});
    op();
  }

  SshOptions options;
  detail::SshSession session;
  detail::SftpTransfer sftp;
  mutable std::mutex stats_mu;
  SshTransferStats stats;
};

SshRunner::SshRunner(SshOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
SshRunner::~SshRunner() = default;

std::string SshRunner::node_name() const { return impl_->session.name(); }
std::string SshRunner::describe() const { return "node " + node_name() + " (ssh)"; }

void SshRunner::disconnect() { impl_->drop(); }

SshTransferStats SshRunner::transfer_stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

void SshRunner::wait_ready(std::chrono::milliseconds within, const CancelToken& cancel) {
  wait_ready(SshClock::now() + within, cancel);
}

void SshRunner::wait_ready(SshClock::time_point deadline, const CancelToken& cancel) {
  auto start = SshClock::now();
  auto backoff = impl_->options.backoff_initial;
  std::string last;
  int attempts = 0;
  for (;;) {
    if (cancel.cancelled())
      throw Error(ErrorCode::cancelled, node_name() + ": waiting for SSH cancelled");
    ++attempts;
    try {
      if (!impl_->session.connected()) impl_->connect(cancel, deadline);
      CommandOptions probe;
      probe.cancel = cancel;
      probe.timeout = impl_->options.io_timeout;
      auto r = detail::run_on_session(impl_->session, "true", probe, false);
      if (r.ok()) return;
      if (r.cancelled) throw Error(ErrorCode::cancelled, node_name() + ": waiting for SSH cancelled");
      last = node_name() + ": the probe command exited " + std::to_string(r.exit_status);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::cancelled || !e.retryable()) throw;
      last = e.what();
      impl_->drop();
    }
    auto now = SshClock::now();
    if (now >= deadline) {
      auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
      throw Error(ErrorCode::timeout,
                  node_name() + ": SSH not ready after " + std::to_string(attempts) +
                      " attempts in " + std::to_string(waited.count() / 1000.0).substr(0, 5) +
                      " s; last error: " + last,
                  true);
    }
    auto pause = std::min<SshClock::duration>(backoff, deadline - now);
    if (!cancel.sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(pause) +
                          std::chrono::milliseconds(1)))
      throw Error(ErrorCode::cancelled, node_name() + ": waiting for SSH cancelled");
    backoff = std::min(backoff * 2, impl_->options.backoff_max);
  }
}

CommandResult SshRunner::run(const std::string& command, const CommandOptions& options) {
  if (options.cancel.cancelled()) {
    CommandResult r;
    r.cancelled = true;
    return r;
  }
  for (int attempt = 0;; ++attempt) {
    impl_->ensure_connected(options.cancel);
    try {
      return detail::run_on_session(impl_->session, command, options, impl_->options.login_shell);
    } catch (const detail::ChannelStartError&) {
      // The command never started: a connection that died while idle. Once.
      if (attempt > 0) throw;
      impl_->drop();
    }
  }
}

void SshRunner::upload(const std::string& local_path, const std::string& remote_path) {
  impl_->with_reconnect([&] {
    SshTransferStats delta;
    // Counted also when a later file fails: what was sent, was sent.
    struct Count {
      Impl& impl;
      SshTransferStats& d;
      ~Count() {
        std::lock_guard<std::mutex> lock(impl.stats_mu);
        impl.stats.files_sent += d.files_sent;
        impl.stats.files_skipped += d.files_skipped;
        impl.stats.bytes_sent += d.bytes_sent;
      }
    } count{*impl_, delta};
    impl_->sftp.upload(local_path, remote_path, delta);
  });
}

void SshRunner::download(const std::string& remote_path, const std::string& local_path) {
  impl_->with_reconnect([&] {
    SshTransferStats delta;
    impl_->sftp.download(remote_path, local_path, delta);
    std::lock_guard<std::mutex> lock(impl_->stats_mu);
    impl_->stats.files_received += delta.files_received;
    impl_->stats.bytes_received += delta.bytes_received;
  });
}

std::unique_ptr<PortForward> SshRunner::forward(int local_port, int remote_port,
                                                const std::string& remote_host) {
  return detail::start_forward(impl_->options, local_port, remote_host, remote_port);
}

int SshRunner::attach(int in_fd, int out_fd, const AttachOptions& options) {
  impl_->ensure_connected({});
  return detail::attach_on_session(impl_->session, in_fd, out_fd, options);
}

}  // namespace raycluster
