// What goes over the wire for a command, and what comes back besides output.
// Pure functions (unit-tested without a server).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace raycluster::detail {

// The first stdout line of every command: the remote process group id, so a
// timed-out command's whole group can be ended from a second channel.
inline constexpr std::string_view kPgidMarker = "\x1erc-pgid ";

// The exec string: print the marker, then (login_shell) Ray's way,
//   exec bash --login -c -i '[ -f ~/.bashrc ] && . ~/.bashrc; export K='v'; (command)'
// or the user's login shell running the exports and the command directly.
// sshd starts the command as a session leader, so $$ is its process group.
std::string remote_command(const std::string& command,
                           const std::map<std::string, std::string>& env, bool login_shell);
// Signals the process group: SIGTERM and SIGHUP (an interactive bash ignores
// TERM), or SIGKILL when hard.
std::string kill_group_command(long pgid, bool hard);
// The group id when `line` is the marker line.
std::optional<long> parse_pgid_marker(std::string_view line);
// stderr lines that an interactive bash without a terminal prints by itself.
bool is_login_shell_noise(std::string_view line);
// "TERM" -> 15 (names as in SSH exit-signal messages, without "SIG"); 0 if unknown.
int signal_number(std::string_view name);
// Environment variable names the shell accepts ([A-Za-z_][A-Za-z0-9_]*).
bool valid_env_name(std::string_view name);

}  // namespace raycluster::detail
