#include "updater/container_commands.hpp"

#include <algorithm>
#include <cstdint>
#include <sstream>

#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

bool py_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

std::string py_quote(std::string_view s) {
  if (s.empty()) return "''";
  if (std::all_of(s.begin(), s.end(), py_safe)) return std::string(s);
  return "'" + replace_all(std::string(s), "'", "'\"'\"'") + "'";
}

std::string container_exec_command(const std::string& runtime, const std::string& container,
                                   const std::string& command,
                                   const std::vector<std::string>& env_names, bool interactive) {
  std::vector<std::string> env;
  for (const auto& k : env_names) env.push_back("-e " + k + "=$" + k);
  return runtime + " exec " + (interactive ? "-it" : "") + " " + join(env, " ") + " " +
         container + " /bin/bash -c " + py_quote(command) + " ";
}

std::string login_shell_command(const std::string& command) {
  return "bash --login -c -i " +
         py_quote("source ~/.bashrc; export OMP_NUM_THREADS=1 PYTHONWARNINGS=ignore && (" +
                  command + ")");
}

std::string container_run_command(const std::string& runtime, const std::string& image,
                                  const std::vector<std::string>& mount_targets,
                                  const std::string& container,
                                  const std::vector<std::string>& options,
                                  const std::string& mount_prefix, const std::string& home) {
  std::vector<std::string> mounts;
  for (const auto& dst : mount_targets)
    mounts.push_back("-v " + mount_prefix + "/" + dst + ":" + replace_all(dst, "~/", home + "/"));
  std::vector<std::string> parts = {runtime,
                                    "run",
                                    "--rm",
                                    "--name " + container,
                                    "-d",
                                    "-it",
                                    join(mounts, " "),
                                    "-e LC_ALL=C.UTF-8 -e LANG=C.UTF-8",
                                    join(options, " "),
                                    "--net=host",
                                    image,
                                    "bash"};
  return join(parts, " ");
}

std::string container_host_mount_prefix(const std::string& cluster_name) {
  return "/tmp/ray_tmp_mount/" + cluster_name;
}

std::string shm_size_option(std::string_view meminfo) {
  std::istringstream in{std::string(meminfo)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("MemAvailable") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string name;
    std::uint64_t kib = 0;
    if (!(fields >> name >> kib)) return {};
    double bytes = static_cast<double>(kib) * 1024.0 * 0.3 * 1.1;
    bytes = std::min(bytes, 200e9);
    return "--shm-size='" + std::to_string(static_cast<std::uint64_t>(bytes)) + "b'";
  }
  return {};
}

}  // namespace raycluster::detail
