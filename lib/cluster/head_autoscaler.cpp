#include "cluster/head_autoscaler.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

std::string basename_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool head_names_cloud_identity(const ClusterSpec& spec) {
  const auto* head = spec.find_node_type(spec.head_node_type);
  if (!head || !head->node_config.is_object()) return false;
  const char* key = spec.provider.kind == ProviderKind::aws ? "IamInstanceProfile" : "serviceAccounts";
  const Value* v = head->node_config.find(key);
  return v && !v->is_null();
}

const char* autoscaler_site_name(AutoscalerSite s) noexcept {
  switch (s) {
    case AutoscalerSite::head: return "head";
    case AutoscalerSite::local: return "local";
    case AutoscalerSite::off: return "off";
  }
  return "off";
}

bool cluster_can_scale(const ClusterSpec& spec, bool resource_request_in_use) {
  if (resource_request_in_use) return true;
  return std::any_of(spec.node_types.begin(), spec.node_types.end(),
                     [](const NodeTypeSpec& t) { return t.max_workers > t.min_workers; });
}

AutoscalerPlacement place_autoscaler(const ClusterSpec& spec, bool resource_request_in_use,
                                     bool provider_makes_identity) {
  AutoscalerPlacement p;
  if (spec.autoscaler == "off" || !cluster_can_scale(spec, resource_request_in_use)) return p;
  if (spec.autoscaler == "local") {
    p.site = AutoscalerSite::local;
    return p;
  }
  const bool cloud = spec.provider.kind == ProviderKind::aws || spec.provider.kind == ProviderKind::gcp;
  if (cloud && !provider_makes_identity && !head_names_cloud_identity(spec)) {
    const bool aws = spec.provider.kind == ProviderKind::aws;
    p.site = AutoscalerSite::local;
    p.warning = std::string("autoscaler: head needs cloud credentials on the head, and the head's "
                            "node_config (available_node_types.") +
                spec.head_node_type + ".node_config) gives it none (no " +
                (aws ? "IamInstanceProfile" : "serviceAccounts") +
                "); the autoscaler runs only where `raycluster monitor` runs. Give the head " +
                (aws ? "an instance profile whose role may run, tag and terminate the cluster's "
                       "instances"
                     : "a service account that may create and delete the cluster's instances") +
                ", or set `autoscaler: local` to silence this";
    return p;
  }
  p.site = AutoscalerSite::head;
  return p;
}

std::vector<std::string> strip_autoscaling_config(std::vector<std::string>& commands) {
  static const std::string flag = "--autoscaling-config";
  std::vector<std::string> warnings;
  for (auto& cmd : commands) {
    std::string out;
    bool changed = false;
    std::size_t i = 0;
    while (i < cmd.size()) {
      std::size_t at = cmd.find(flag, i);
      const bool word_start = at != std::string::npos && (at == 0 || cmd[at - 1] == ' ' ||
                                                          cmd[at - 1] == '\t' || cmd[at - 1] == '\n');
      const std::size_t after = at == std::string::npos ? 0 : at + flag.size();
      const bool word_end = word_start && (after == cmd.size() || cmd[after] == '=' ||
                                           cmd[after] == ' ' || cmd[after] == '\t');
      if (!word_end) {
        if (at == std::string::npos) {
          out += cmd.substr(i);
          break;
        }
        out += cmd.substr(i, after - i);
        i = after;
        continue;
      }
      // Drop the flag, its value (=X or the next word) and the blank before it.
      std::size_t end = after;
      if (end < cmd.size() && cmd[end] == '=') {
        while (end < cmd.size() && cmd[end] != ' ' && cmd[end] != '\t') ++end;
      } else {
        while (end < cmd.size() && (cmd[end] == ' ' || cmd[end] == '\t')) ++end;
        while (end < cmd.size() && cmd[end] != ' ' && cmd[end] != '\t') ++end;
      }
      std::string head = cmd.substr(i, at - i);
      while (!head.empty() && (head.back() == ' ' || head.back() == '\t')) head.pop_back();
      out += head;
      i = end;
      changed = true;
    }
    if (changed) {
      warnings.push_back("head_start_ray_commands: `" + cmd +
                         "` passes --autoscaling-config; raycluster's autoscaler runs on the head "
                         "instead of Ray's, so the flag is dropped (set `autoscaler: local` or "
                         "`off` to keep it)");
      cmd = out;
    }
  }
  return warnings;
}

bool is_base_system_library(std::string_view soname) {
  static const char* const base[] = {"linux-vdso.so", "linux-gate.so", "ld-linux",    "libc.so",
                                     "libm.so",       "libpthread.so", "libdl.so",    "librt.so",
                                     "libresolv.so",  "libutil.so",    "libstdc++.so", "libgcc_s.so",
                                     "libmvec.so",    "libanl.so",     "libnsl.so",   "libcrypt.so"};
  for (const char* b : base)
    if (soname.rfind(b, 0) == 0) return true;
  return soname.find("/ld-linux") != std::string_view::npos;
}

std::vector<BundleFile> bundle_files_from_ldd(const std::string& exe, std::string_view ldd_output) {
  std::vector<BundleFile> libs;
  for (const auto& raw : split(ldd_output, '\n')) {
    std::string line(trim(raw));
    if (line.empty()) continue;
    auto arrow = line.find(" => ");
    std::string soname = arrow == std::string::npos ? line.substr(0, line.find(' ')) : line.substr(0, arrow);
    if (is_base_system_library(basename_of(soname))) continue;
    if (arrow == std::string::npos) continue;  // statically linked, or the loader itself
    std::string target(trim(line.substr(arrow + 4)));
    if (target.rfind("not found", 0) == 0)
      throw Error(ErrorCode::not_found, "the head autoscaler's bundle: " + exe + " needs " + soname +
                                            ", which ldd cannot find on this machine");
    target = target.substr(0, target.find(" ("));
    libs.push_back({target, "lib/" + soname});
  }
  std::sort(libs.begin(), libs.end(), [](const BundleFile& a, const BundleFile& b) { return a.name < b.name; });
  libs.erase(std::unique(libs.begin(), libs.end(),
                         [](const BundleFile& a, const BundleFile& b) { return a.name == b.name; }),
             libs.end());
  std::vector<BundleFile> out{{exe, "raycluster"}};
  out.insert(out.end(), libs.begin(), libs.end());
  return out;
}

std::vector<BundleFile> bundle_files(const std::string& exe) {
  ProcessSpec ps;
  ps.argv = {"ldd", exe};
  ps.timeout = std::chrono::seconds(30);
  ps.tail_lines = 1000;
  std::string out;
  ps.on_line = [&](std::string_view line, bool is_stderr) {
    if (!is_stderr) out += std::string(line) + "\n";
  };
  ProcessResult r = run_process(ps);
  if (!r.ok() && out.find("=>") == std::string::npos)
    throw Error(ErrorCode::io, "the head autoscaler's bundle: `ldd " + exe + "` failed: " + r.output_tail);
  return bundle_files_from_ldd(exe, out);
}

std::string raycluster_binary() {
  if (const char* b = std::getenv("RAYCLUSTER_BIN"); b && *b && ::access(b, X_OK) == 0) {
    char buf[PATH_MAX];
    if (::realpath(b, buf)) return buf;
  }
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    if (basename_of(self) == "raycluster") return self;
  }
  if (const char* path = std::getenv("PATH"))
    for (const auto& dir : split(path, ':')) {
      std::string candidate = (dir.empty() ? "." : dir) + "/raycluster";
      char buf[PATH_MAX];
      if (::access(candidate.c_str(), X_OK) == 0 && ::realpath(candidate.c_str(), buf)) return buf;
    }
  throw Error(ErrorCode::not_found,
              "the head autoscaler needs the raycluster binary: this program is not it, and "
              "neither $RAYCLUSTER_BIN nor PATH names one (or set `autoscaler: local`)");
}

std::string bundle_manifest(const std::vector<BundleFile>& files) {
  std::string out;
  for (const auto& f : files) out += sha256_hex(read_file(f.local_path)) + "  " + f.name + "\n";
  return out;
}

Value head_spec_value(const ClusterSpec& spec, const std::string& key_path_on_head,
                      bool mounts_on_head) {
  // The one config writer, then what differs on the head.
  Value v = spec_to_config(spec);
  v.set("autoscaler", "head");
  Value* auth = v.find("auth");
  if (!key_path_on_head.empty())
    auth->set("ssh_private_key", key_path_on_head);
  else
    std::erase_if(auth->as_object(), [](const Value::Member& m) { return m.first == "ssh_private_key"; });
  if (mounts_on_head) {
    Value mounts = Value::object();
    for (const auto& [remote, local] : spec.file_mounts) mounts.set(remote, remote);
    v.set("file_mounts", std::move(mounts));
  }
  return v;
}

}  // namespace raycluster::detail
