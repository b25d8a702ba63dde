// Files over SFTP: upload with "skip unchanged" (sha256 computed on the node)
// and download. Both work on one session owned by the runner.
#pragma once

#include <libssh/sftp.h>

#include <string>

#include "ssh/ssh.hpp"
#include "ssh/session.hpp"

namespace raycluster::detail {

class SftpTransfer {
 public:
  explicit SftpTransfer(SshSession& session) : session_(session) {}
  ~SftpTransfer() { reset(); }
  SftpTransfer(const SftpTransfer&) = delete;
  SftpTransfer& operator=(const SftpTransfer&) = delete;

  // Forget the SFTP channel (before the session closes or reconnects).
  void reset();
  void upload(const std::string& local_path, const std::string& remote_path,
              SshTransferStats& stats);
  void download(const std::string& remote_path, const std::string& local_path,
                SshTransferStats& stats);
  // A remote path with "~" (or a relative path) resolved against the home.
  std::string resolve(const std::string& remote_path);

 private:
  sftp_session sftp();
  [[noreturn]] void fail(const std::string& what, const std::string& path);
  void mkdirs(const std::string& dir);
  void send_file(const std::string& local, const std::string& remote, unsigned mode,
                 SshTransferStats& stats);
  void receive(const std::string& remote, const std::string& local, SshTransferStats& stats);

  SshSession& session_;
  sftp_session sftp_ = nullptr;
  std::string home_;
};

// The listing command: "<sha256>  ./rel" lines, a separator, "<octal mode> ./rel" lines,
// for every regular file under `target` (a folder) or for `target` itself.
std::string remote_listing_command(const std::string& target, bool is_folder);
struct RemoteFile {
  std::string sha256;
  unsigned mode = 0;
};
// Parses that output, keyed by "./rel" (or "./<name>" for a single file).
std::map<std::string, RemoteFile> parse_remote_listing(const std::string& output);

}  // namespace raycluster::detail
