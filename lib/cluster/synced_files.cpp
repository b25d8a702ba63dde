#include "cluster/synced_files.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

std::string head_path_words(const std::string& path) {
  if (path == "~") return "~";
  if (path.compare(0, 2, "~/") == 0) return "~/" + shell_quote(path.substr(2));
  return shell_quote(path);
}

SyncedFiles::SyncedFiles(const ClusterSpec& spec, CommandRunner& head, const std::string& state_dir) {
  if (spec.cluster_synced_files.empty()) return;
  std::string tmpl = state_dir + "/synced-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw Error(ErrorCode::io, "cannot make a folder for cluster_synced_files in " + state_dir + ": " +
                                   std::strerror(errno));
  dir_ = tmpl;
  try {
    int i = 0;
    for (const auto& path : spec.cluster_synced_files) {
      CommandOptions o;
      auto r = head.run("test -e " + head_path_words(path), o);
      if (r.exit_status == 1) {
        missing_.push_back(path);
        continue;
      }
      if (!r.ok())
        throw Error(ErrorCode::command_failed, "cluster_synced_files: cannot look for " + path +
                                                   " on the head: " + r.output_tail);
      std::string name = path;
      while (name.size() > 1 && name.back() == '/') name.pop_back();
      const std::string local = dir_ + "/" + std::to_string(i++) + "/" + name.substr(name.rfind('/') + 1);
      make_dirs(local.substr(0, local.rfind('/')), 0700);
      head.download(path, local);
      files_.emplace_back(path, local);
    }
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

SyncedFiles::~SyncedFiles() {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace raycluster::detail
