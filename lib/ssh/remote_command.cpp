#include "ssh/remote_command.hpp"

#include <charconv>
#include <csignal>

#include "util/error.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

std::string remote_command(const std::string& command,
                           const std::map<std::string, std::string>& env, bool login_shell) {
  std::string exports;
  for (const auto& [k, v] : env) {
    if (!valid_env_name(k))
      throw Error(ErrorCode::invalid_argument, "invalid environment variable name: " + k);
    exports += "export " + k + "=" + shell_quote(v) + "; ";
  }
  std::string marker = "printf '\\036rc-pgid %s\\n' \"$$\"; ";
  if (!login_shell) return marker + exports + command;
  // The command goes in a subshell after a newline, so a trailing comment
  // in it cannot swallow the closing parenthesis.
  std::string inner = "if [ -f ~/.bashrc ]; then . ~/.bashrc; fi; " + exports + "(" + command + "\n)";
  return marker + "exec bash --login -c -i " + shell_quote(inner);
}

std::string kill_group_command(long pgid, bool hard) {
  std::string g = "-" + std::to_string(pgid);
  if (hard) return "kill -s KILL -- " + g + " 2>/dev/null; exit 0";
  // HUP too: an interactive bash (the login shell wrapper) ignores TERM.
  return "kill -s TERM -- " + g + " 2>/dev/null; kill -s HUP -- " + g + " 2>/dev/null; exit 0";
}

std::optional<long> parse_pgid_marker(std::string_view line) {
  if (line.substr(0, kPgidMarker.size()) != kPgidMarker) return std::nullopt;
  line.remove_prefix(kPgidMarker.size());
  long v = 0;
  auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
  if (ec != std::errc() || p != line.data() + line.size() || v <= 1) return std::nullopt;
  return v;
}

bool is_login_shell_noise(std::string_view line) {
  return line.rfind("bash: cannot set terminal process group", 0) == 0 ||
         line == "bash: no job control in this shell" || line == "logout";
}

int signal_number(std::string_view name) {
  if (name.substr(0, 3) == "SIG") name.remove_prefix(3);
  static const std::pair<const char*, int> table[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
      {"ABRT", SIGABRT}, {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"SEGV", SIGSEGV},
      {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"BUS", SIGBUS},   {"TRAP", SIGTRAP}, {"XCPU", SIGXCPU}};
  for (const auto& [n, v] : table)
    if (name == n) return v;
  return 0;
}

}  // namespace raycluster::detail
