#include "providers/local/local_runner.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"

namespace raycluster::detail {

namespace fs = std::filesystem;

LocalRunner::LocalRunner(std::string node_id, std::string node_dir, std::string marker,
                         std::function<void(pid_t)> on_session)
    : node_id_(std::move(node_id)),
      node_dir_(std::move(node_dir)),
      marker_(std::move(marker)),
      on_session_(std::move(on_session)) {}

CommandResult LocalRunner::run(const std::string& command, const CommandOptions& options) {
  ProcessSpec spec;
  spec.argv = {"bash", "-c", command};
  spec.env = options.env;
  spec.env["RAYCLUSTER_NODE"] = marker_;
  spec.cwd = node_dir_;
  spec.timeout = options.timeout;
  spec.cancel = options.cancel;
  spec.on_line = options.on_line;
  spec.on_started = on_session_;
  spec.contain = true;
  auto r = run_process(spec);
  CommandResult out;
  out.exit_status = r.exit_status;
  out.timed_out = r.timed_out;
  out.cancelled = r.cancelled;
  out.output_tail = std::move(r.output_tail);
  return out;
}

std::string LocalRunner::resolve(const std::string& remote_path) const {
  const fs::path base = fs::path(node_dir_).lexically_normal();
  // Compared by path components, not by string prefix: "~/../<id>EVIL" shares
  // the prefix of the node's folder and is a sibling of it.
  auto inside = [&](const fs::path& p) {
    auto mismatch = std::mismatch(base.begin(), base.end(), p.begin(), p.end());
    return mismatch.first == base.end() ||
           (std::next(mismatch.first) == base.end() && mismatch.first->empty());
  };
  std::string rel;
  if (remote_path == "~" || remote_path == "~/")
    rel = "";
  else if (remote_path.rfind("~/", 0) == 0)
    rel = remote_path.substr(2);
  else if (!remote_path.empty() && remote_path[0] != '/')
    rel = remote_path;
  else {
    fs::path p = fs::path(remote_path).lexically_normal();
    if (!inside(p))
      throw Error(ErrorCode::invalid_argument,
                  "node " + node_id_ + ": remote path " + remote_path +
                      " is outside the node's folder; localhost nodes share this machine, so "
                      "mount into ~/... (the node's folder, $RAYCLUSTER_NODE_DIR)");
    return p.string();
  }
  fs::path p = (base / rel).lexically_normal();
  if (!inside(p))
    throw Error(ErrorCode::invalid_argument,
                "node " + node_id_ + ": remote path " + remote_path + " leaves the node's folder");
  return p.string();
}

void LocalRunner::upload(const std::string& local_path, const std::string& remote_path) {
  std::string target = resolve(remote_path);
  std::error_code ec;
  if (!fs::exists(local_path, ec))
    throw Error(ErrorCode::io, "node " + node_id_ + ": cannot upload " + local_path +
                                   ": no such file or folder");
  fs::path parent = fs::path(target).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  auto opts = fs::copy_options::recursive | fs::copy_options::overwrite_existing;
  if (fs::is_directory(local_path, ec)) make_dirs(target);
  fs::copy(local_path, target, opts, ec);
  if (ec)
    throw Error(ErrorCode::io, "node " + node_id_ + ": cannot copy " + local_path + " to " +
                                   target + ": " + ec.message());
}

void LocalRunner::download(const std::string& remote_path, const std::string& local_path) {
  std::string source = resolve(remote_path);
  std::error_code ec;
  auto opts = fs::copy_options::recursive | fs::copy_options::overwrite_existing;
  fs::copy(source, local_path, opts, ec);
  if (ec)
    throw Error(ErrorCode::io, "node " + node_id_ + ": cannot copy " + source + " to " +
                                   local_path + ": " + ec.message());
}

std::string LocalRunner::describe() const { return "node " + node_id_ + " (local process)"; }

}  // namespace raycluster::detail
