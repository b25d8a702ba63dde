#include "util/command_runner.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace raycluster {

void CommandRunner::wait_ready(std::chrono::steady_clock::time_point deadline,
                               const CancelToken& cancel) {
  std::chrono::milliseconds backoff{500};
  for (;;) {
    cancel.throw_if_cancelled();
    CommandOptions probe;
    probe.timeout = std::chrono::seconds(30);
    probe.cancel = cancel;
    std::string reason;
    try {
      auto r = run("uptime", probe);
      if (r.ok()) return;
      if (r.cancelled) cancel.throw_if_cancelled();
      reason = r.timed_out ? "`uptime` timed out" : "`uptime` exited " + std::to_string(r.exit_status);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::auth || e.code() == ErrorCode::cancelled) throw;
      reason = e.what();
    }
    if (std::chrono::steady_clock::now() + backoff > deadline)
      throw Error(ErrorCode::timeout, describe() + " did not accept commands in time: " + reason);
    if (!cancel.sleep_for(backoff)) cancel.throw_if_cancelled();
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
  }
}

std::unique_ptr<PortForward> CommandRunner::forward(int local_port, int remote_port,
                                                   const std::string& remote_host) {
  (void)local_port;
  throw Error(ErrorCode::unsupported, describe() + ": cannot carry a port to " + remote_host +
                                          ":" + std::to_string(remote_port) +
                                          " (no channel to the node)");
}

}  // namespace raycluster
