// Running one command on an SSH session.
#pragma once

#include <string>

#include "util/command_runner.hpp"
#include "util/error.hpp"
#include "ssh/session.hpp"

namespace raycluster::detail {

// The command never started (the channel could not be opened or the exec
// was refused): safe to reconnect and try again.
class ChannelStartError : public Error {
 public:
  explicit ChannelStartError(const std::string& message)
      : Error(ErrorCode::unavailable, message, true) {}
};

// Runs `command` (see remote_command()) and streams its output. Throws
// ChannelStartError before the command started, Error(unavailable) when the
// connection drops while it runs (the session is then closed).
CommandResult run_on_session(SshSession& session, const std::string& command,
                             const CommandOptions& options, bool login_shell);

}  // namespace raycluster::detail
