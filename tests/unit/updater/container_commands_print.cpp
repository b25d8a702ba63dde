// Prints the container command builders' output for the arguments given, so
// tests/containers/test_commands.py can compare it with Ray's own functions.
//   quote S | login CMD | prefix CLUSTER | shm MEMINFO_TEXT
//   exec RUNTIME CONTAINER CMD INTERACTIVE(0|1) [ENV_NAME...]
//   run RUNTIME IMAGE CONTAINER PREFIX HOME MOUNT... -- OPTION...
#include <cstdio>
#include <string>
#include <vector>

#include "updater/container_commands.hpp"

using namespace raycluster::detail;

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() >= 2 && a[0] == "quote") {
    std::printf("%s", py_quote(a[1]).c_str());
  } else if (a.size() >= 2 && a[0] == "login") {
    std::printf("%s", login_shell_command(a[1]).c_str());
  } else if (a.size() >= 2 && a[0] == "prefix") {
    std::printf("%s", container_host_mount_prefix(a[1]).c_str());
  } else if (a.size() >= 2 && a[0] == "shm") {
    std::printf("%s", shm_size_option(a[1]).c_str());
  } else if (a.size() >= 5 && a[0] == "exec") {
    std::vector<std::string> env(a.begin() + 5, a.end());
    std::printf("%s", container_exec_command(a[1], a[2], a[3], env, a[4] == "1").c_str());
  } else if (a.size() >= 6 && a[0] == "run") {
    std::vector<std::string> mounts, options;
    bool after = false;
    for (std::size_t i = 6; i < a.size(); ++i) {
      if (a[i] == "--" && !after) {
        after = true;
        continue;
      }
      (after ? options : mounts).push_back(a[i]);
    }
    std::printf("%s", container_run_command(a[1], a[2], mounts, a[3], options, a[4], a[5]).c_str());
  } else {
    std::fprintf(stderr, "usage: see the comment at the top of the source\n");
    return 2;
  }
  return 0;
}
