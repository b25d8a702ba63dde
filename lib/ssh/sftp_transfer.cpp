#include "ssh/sftp_transfer.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "util/error.hpp"
#include "ssh/exec.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kModesSeparator = "--rc-modes--";
constexpr std::size_t kChunk = 64 * 1024;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string local_sha256(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) throw Error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(kChunk);
  for (;;) {
    ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string sftp_error_text(int code) {
  switch (code) {
    case SSH_FX_NO_SUCH_FILE: return "no such file or folder";
    case SSH_FX_PERMISSION_DENIED: return "permission denied";
    case SSH_FX_FAILURE: return "failure";
    case SSH_FX_FILE_ALREADY_EXISTS: return "already exists";
    case SSH_FX_CONNECTION_LOST: return "connection lost";
    default: return "sftp error " + std::to_string(code);
  }
}

struct LocalEntry {
  std::string rel;  // "./a/b"
  std::string path;
  unsigned mode = 0;
};

}  // namespace

std::string remote_listing_command(const std::string& target, bool is_folder) {
  std::string sep = "echo " + std::string(kModesSeparator);
  if (is_folder) {
    return "cd -- " + shell_quote(target) +
           " 2>/dev/null || exit 0; find . -type f -exec sha256sum -- {} + 2>/dev/null; " + sep +
           "; find . -type f -exec stat -c '%a %n' -- {} + 2>/dev/null; exit 0";
  }
  fs::path p(target);
  std::string dir = p.parent_path().string();
  std::string base = "./" + p.filename().string();
  return "cd -- " + shell_quote(dir.empty() ? "/" : dir) + " 2>/dev/null && [ -f " +
         shell_quote(base) + " ] || exit 0; sha256sum -- " + shell_quote(base) + "; " + sep +
         "; stat -c '%a %n' -- " + shell_quote(base) + "; exit 0";
}

std::map<std::string, RemoteFile> parse_remote_listing(const std::string& output) {
  std::map<std::string, RemoteFile> files;
  bool modes = false;
  for (const auto& line : split(output, '\n')) {
    if (line == kModesSeparator) {
      modes = true;
      continue;
    }
    if (line.empty() || line[0] == '\\') continue;  // escaped odd names: sent again
    if (!modes) {
      // "<64 hex>  ./rel"
      if (line.size() < 67 || line[64] != ' ') continue;
      std::string name = line.substr(66);
      files[name].sha256 = line.substr(0, 64);
    } else {
      auto sp = line.find(' ');
      if (sp == std::string::npos) continue;
      auto it = files.find(line.substr(sp + 1));
      if (it == files.end()) continue;
      try {
        it->second.mode = static_cast<unsigned>(std::stoul(line.substr(0, sp), nullptr, 8));
      } catch (const std::exception&) {
      }
    }
  }
  return files;
}

void SftpTransfer::reset() {
  if (sftp_) sftp_free(sftp_);
  sftp_ = nullptr;
  home_.clear();
}

void SftpTransfer::fail(const std::string& what, const std::string& path) {
  int code = sftp_ ? sftp_get_error(sftp_) : 0;
  std::string msg = session_.name() + ": " + what + " " + path;
  if (code != 0) msg += ": " + sftp_error_text(code);
  if (!session_.connected()) {
    reset();
    throw Error(ErrorCode::unavailable, session_.error_text(what + " " + path), true);
  }
  throw Error(ErrorCode::io, msg);
}

sftp_session SftpTransfer::sftp() {
  if (sftp_) return sftp_;
  sftp_ = sftp_new(session_.raw());
  if (!sftp_) throw Error(ErrorCode::unavailable, session_.error_text("cannot start SFTP"), true);
  if (sftp_init(sftp_) != SSH_OK) {
    int code = sftp_get_error(sftp_);
    reset();
    throw Error(ErrorCode::unavailable,
                session_.name() + ": cannot start SFTP (" + sftp_error_text(code) +
                    "; does sshd have `Subsystem sftp`?)",
                true);
  }
  char* home = sftp_canonicalize_path(sftp_, ".");
  if (!home) fail("cannot resolve the home folder", ".");
  home_ = home;
  ssh_string_free_char(home);
  return sftp_;
}

std::string SftpTransfer::resolve(const std::string& remote_path) {
  sftp();
  std::string p = remote_path;
  if (p == "~" || p == "~/" || p.empty()) return home_;
  if (p.rfind("~/", 0) == 0) p = p.substr(2);
  if (p[0] != '/') p = home_ + "/" + p;
  std::string norm = fs::path(p).lexically_normal().string();
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  return norm;
}

void SftpTransfer::mkdirs(const std::string& dir) {
  sftp_session s = sftp();
  std::string cur;
  for (const auto& part : fs::path(dir)) {
    std::string name = part.string();
    if (name == "/") {
      cur = "/";
      continue;
    }
    if (name.empty()) continue;
    cur = (cur == "/" ? "/" : cur + "/") + name;
    sftp_attributes a = sftp_stat(s, cur.c_str());
    if (a) {
      bool is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
      sftp_attributes_free(a);
      if (!is_dir) fail("cannot create folder (a file is in the way)", cur);
      continue;
    }
    if (sftp_mkdir(s, cur.c_str(), 0755) != SSH_OK) {
      sftp_attributes again = sftp_stat(s, cur.c_str());  // made meanwhile by another runner?
      if (!again) fail("cannot create folder", cur);
      sftp_attributes_free(again);
    }
  }
}

void SftpTransfer::send_file(const std::string& local, const std::string& remote, unsigned mode,
                             SshTransferStats& stats) {
  sftp_session s = sftp();
  Fd in;
  in.fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0)
    throw Error(ErrorCode::io, session_.name() + ": cannot read " + local + ": " +
                                   std::strerror(errno));
  // Written next to the target and renamed over it: a reader never sees half
  // a file, and a running executable is replaced rather than rewritten.
  std::string tmp = remote + ".rc-tmp-" + random_hex(6);
  sftp_file f = sftp_open(s, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode & 07777);
  if (!f) fail("cannot write", tmp);
  std::vector<char> buf(kChunk);
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      sftp_close(f);
      sftp_unlink(s, tmp.c_str());
      throw Error(ErrorCode::io, session_.name() + ": cannot read " + local);
    }
    if (n == 0) break;
    std::size_t off = 0;
    while (off < static_cast<std::size_t>(n)) {
      std::size_t piece = std::min<std::size_t>(static_cast<std::size_t>(n) - off, 32768);
      ssize_t w = sftp_write(f, buf.data() + off, piece);
      if (w <= 0) {
        ok = false;
        break;
      }
      off += static_cast<std::size_t>(w);
    }
    if (!ok) break;
    stats.bytes_sent += static_cast<std::uint64_t>(n);
  }
  if (sftp_close(f) != SSH_OK) ok = false;
  if (!ok) {
    sftp_unlink(s, tmp.c_str());
    fail("cannot write", remote);
  }
  if (sftp_chmod(s, tmp.c_str(), mode & 07777) != SSH_OK) fail("cannot set the mode of", tmp);
  if (sftp_rename(s, tmp.c_str(), remote.c_str()) != SSH_OK) {
    sftp_unlink(s, remote.c_str());
    if (sftp_rename(s, tmp.c_str(), remote.c_str()) != SSH_OK) {
      sftp_unlink(s, tmp.c_str());
      fail("cannot replace", remote);
    }
  }
  ++stats.files_sent;
}

void SftpTransfer::upload(const std::string& local_path, const std::string& remote_path,
                          SshTransferStats& stats) {
  std::error_code ec;
  auto st = fs::status(local_path, ec);
  if (ec || !fs::exists(st))
    throw Error(ErrorCode::io, session_.name() + ": cannot upload " + local_path +
                                   ": no such file or folder");
  std::string target = resolve(remote_path);
  bool folder = fs::is_directory(st);

  std::vector<LocalEntry> files, dirs;
  if (folder) {
    dirs.push_back({".", local_path, static_cast<unsigned>(st.permissions())});
    for (auto it = fs::recursive_directory_iterator(
             local_path, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      auto rel = "./" + fs::relative(it->path(), local_path).generic_string();
      auto s = it->status();
      auto mode = static_cast<unsigned>(s.permissions()) & 07777;
      if (fs::is_directory(s))
        dirs.push_back({rel, it->path().string(), mode});
      else if (fs::is_regular_file(s))
        files.push_back({rel, it->path().string(), mode});
    }
    if (ec)
      throw Error(ErrorCode::io, session_.name() + ": cannot list " + local_path + ": " +
                                     ec.message());
  } else {
    files.push_back({"./" + fs::path(target).filename().string(), local_path,
                     static_cast<unsigned>(st.permissions()) & 07777});
  }

  // What the node has now (one command; no manifest to go stale).
  CommandOptions lopts;
  std::string listing;
  lopts.on_line = [&](std::string_view line, bool is_stderr) {
    if (!is_stderr) listing.append(line).push_back('\n');
  };
  auto lr = run_on_session(session_, remote_listing_command(target, folder), lopts, false);
  if (lr.exit_status != 0)
    throw Error(ErrorCode::io, session_.name() + ": cannot list " + target + " on the node");
  auto remote = parse_remote_listing(listing);

  auto remote_of = [&](const std::string& rel) {
    if (!folder) return target;
    return rel == "." ? target : target + "/" + rel.substr(2);
  };
  mkdirs(folder ? target : fs::path(target).parent_path().string());
  sftp_session s = sftp();
  for (const auto& d : dirs) {
    std::string r = remote_of(d.rel);
    if (d.rel != ".") mkdirs(r);
    if (sftp_chmod(s, r.c_str(), d.mode & 07777) != SSH_OK) fail("cannot set the mode of", r);
  }
  for (const auto& f : files) {
    std::string r = remote_of(f.rel);
    auto it = remote.find(f.rel);
    if (it != remote.end() && it->second.sha256 == local_sha256(f.path)) {
      if (it->second.mode != f.mode && sftp_chmod(s, r.c_str(), f.mode) != SSH_OK)
        fail("cannot set the mode of", r);
      ++stats.files_skipped;
      continue;
    }
    send_file(f.path, r, f.mode, stats);
  }
}

void SftpTransfer::receive(const std::string& remote, const std::string& local,
                           SshTransferStats& stats) {
  sftp_session s = sftp();
  sftp_attributes a = sftp_stat(s, remote.c_str());
  if (!a) fail("cannot download", remote);
  unsigned mode = a->permissions & 07777;
  bool is_dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;
  bool is_file = a->type == SSH_FILEXFER_TYPE_REGULAR;
  sftp_attributes_free(a);
  if (is_dir) {
    make_dirs(local);
    ::chmod(local.c_str(), mode);
    sftp_dir d = sftp_opendir(s, remote.c_str());
    if (!d) fail("cannot list", remote);
    std::vector<std::string> names;
    while (sftp_attributes e = sftp_readdir(s, d)) {
      std::string n = e->name ? e->name : "";
      sftp_attributes_free(e);
      if (n != "." && n != ".." && !n.empty()) names.push_back(n);
    }
    sftp_closedir(d);
    for (const auto& n : names) receive(remote + "/" + n, local + "/" + n, stats);
    return;
  }
  if (!is_file) return;  // sockets, devices: nothing to copy
  sftp_file f = sftp_open(s, remote.c_str(), O_RDONLY, 0);
  if (!f) fail("cannot read", remote);
  auto parent = fs::path(local).parent_path().string();
  if (!parent.empty()) make_dirs(parent);
  std::string tmp = local + ".rc-tmp-" + random_hex(6);
  Fd out;
  out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out.fd < 0) {
    sftp_close(f);
    throw Error(ErrorCode::io, "cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::vector<char> buf(kChunk);
  for (;;) {
    ssize_t n = sftp_read(f, buf.data(), buf.size());
    if (n < 0) {
      sftp_close(f);
      ::unlink(tmp.c_str());
      fail("cannot read", remote);
    }
    if (n == 0) break;
    std::size_t off = 0;
    while (off < static_cast<std::size_t>(n)) {
      ssize_t w = ::write(out.fd, buf.data() + off, static_cast<std::size_t>(n) - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        sftp_close(f);
        ::unlink(tmp.c_str());
        throw Error(ErrorCode::io, "cannot write " + tmp + ": " + std::strerror(errno));
      }
      off += static_cast<std::size_t>(w);
    }
    stats.bytes_received += static_cast<std::uint64_t>(n);
  }
  sftp_close(f);
  ::fchmod(out.fd, mode);
  ::close(out.fd);
  out.fd = -1;
  if (::rename(tmp.c_str(), local.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::io, "cannot write " + local + ": " + std::strerror(errno));
  }
  ++stats.files_received;
}

void SftpTransfer::download(const std::string& remote_path, const std::string& local_path,
                            SshTransferStats& stats) {
  receive(resolve(remote_path), local_path, stats);
}

}  // namespace raycluster::detail
