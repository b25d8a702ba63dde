// An interactive shell with a PTY, relayed between two fds.
#pragma once

#include "ssh/ssh.hpp"
#include "ssh/session.hpp"

namespace raycluster::detail {

// Returns the shell's exit status (-1 when none came). When in_fd ends, a
// Ctrl-D goes to the shell (as a user at a terminal would type it), so input
// piped in runs to its end and the shell then exits.
int attach_on_session(SshSession& session, int in_fd, int out_fd, const AttachOptions& options);

}  // namespace raycluster::detail
