// The shell commands that put a node's Ray inside a container, spelled as
// Ray's cluster launcher spells them (ray/autoscaler/_private/docker.py and
// command_runner.py), so a node set up by either looks the same.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace raycluster::detail {

// Python's shlex.quote: safe strings unchanged, others in single quotes.
std::string py_quote(std::string_view s);

// Ray's with_docker_exec: `<rt> exec <-it|> <-e K=$K ...> <name> /bin/bash -c <cmd> `.
std::string container_exec_command(const std::string& runtime, const std::string& container,
                                   const std::string& command,
                                   const std::vector<std::string>& env_names = {},
                                   bool interactive = false);

// Ray's _with_interactive joined: a login shell that reads ~/.bashrc first.
std::string login_shell_command(const std::string& command);

// Ray's docker_start_cmds: `<rt> run --rm --name <name> -d -it <-v mounts>
// <-e LC_ALL/LANG> <options> --net=host <image> bash`. Each mount target
// (a file mount's remote path) is bound from `<mount_prefix>/<target>` on the
// host, "~/" read as `home`.
std::string container_run_command(const std::string& runtime, const std::string& image,
                                  const std::vector<std::string>& mount_targets,
                                  const std::string& container,
                                  const std::vector<std::string>& options,
                                  const std::string& mount_prefix, const std::string& home);

// Ray's get_docker_host_mount_location: where file mounts land on the host.
std::string container_host_mount_prefix(const std::string& cluster_name);

// `--shm-size` as Ray sizes it from the host's /proc/meminfo text: 30% of
// MemAvailable plus 10%, at most 200 GB; empty when no MemAvailable line.
std::string shm_size_option(std::string_view meminfo);

}  // namespace raycluster::detail
