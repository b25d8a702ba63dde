// Internal: the autoscaler that `up` installs on the head (as `ray up` starts
// Ray's monitor there), and the pure pieces it is made of.
//
// On the head the autoscaler is `raycluster monitor <spec> --on-head <dir>`:
// the same reconcile loop as a local `raycluster monitor`, reading Ray's load
// from the head's own dashboard. Its folder <dir> holds
//   bundle/        the raycluster binary and the shared libraries it needs
//                  that a base system lacks (SSH heads; see bundle_files)
//   bundle/MANIFEST  "sha256  name" per file: a second `up` sends nothing
//                  when the head's files still match it
//   cluster.yaml   the normalised spec, in Ray's schema, without secrets
//   ssh_key        the key that reaches the workers (0600; SSH heads)
//   home/          RAYCLUSTER_HOME of the head autoscaler (SSH heads)
//   ctl.sh         start | stop | alive | status: the supervised service
//                  (a systemd unit where systemd runs, else an sh loop that
//                  restarts it with backoff, pid files next to it)
//   monitor.log    its log; status.json: its pid, last tick and decision
//   inputs.sha256  the hash of everything above: `up` changes nothing while
//                  it matches and the autoscaler is alive
// SSH heads use ~/.raycluster/autoscaler/<cluster>/; a localhost head uses
// $RAYCLUSTER_NODE_DIR/autoscaler/, and the autoscaler is one of the head
// node's processes (its sh loop), so ending the node ends it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "spec/spec.hpp"
#include "util/command_runner.hpp"
#include "util/event.hpp"
#include "util/value.hpp"

namespace raycluster::detail {

enum class AutoscalerSite { head, local, off };
const char* autoscaler_site_name(AutoscalerSite s) noexcept;  // "head", "local", "off"

struct AutoscalerPlacement {
  AutoscalerSite site = AutoscalerSite::off;
  // Why `head` was asked for and another site is used (a warning), else empty.
  std::string warning;
};

// True when some node type can change its worker count: max_workers above
// min_workers, or a resource request (request_resources) is in use.
bool cluster_can_scale(const ClusterSpec& spec, bool resource_request_in_use);

// Where the autoscaler runs, from the spec's `autoscaler` key: nowhere when
// nothing can scale; on AWS (GCP) `head` needs cloud rights on the head: the
// head's node_config gives them (IamInstanceProfile; serviceAccounts), or the
// provider makes them (`provider_makes_identity`, see
// Provider::prepare_head_identity); else it is `local` with a warning saying
// why and what to do.
AutoscalerPlacement place_autoscaler(const ClusterSpec& spec, bool resource_request_in_use,
                                     bool provider_makes_identity = false);
// True when the head's node_config names its cloud identity (AWS
// IamInstanceProfile, GCP serviceAccounts); then nothing is made for it.
bool head_names_cloud_identity(const ClusterSpec& spec);

// Removes Ray's --autoscaling-config (=X or X) from the head's start
// commands, so Ray's own monitor does not run beside ours; returns one
// warning per command changed, naming it.
std::vector<std::string> strip_autoscaling_config(std::vector<std::string>& commands);

// One file of the bundle: its path here and its name in the bundle.
struct BundleFile {
  std::string local_path;
  std::string name;  // "raycluster" or "lib/<soname>"
};

// A library every Linux system the head may run has: the C library's parts
// (libc, libm, libpthread, libdl, librt, libresolv, libutil, the dynamic
// loader, vdso), libstdc++ and libgcc_s (Debian's and Ubuntu's base system
// depends on both). Everything else the binary loads goes into the bundle.
bool is_base_system_library(std::string_view soname);
// The bundle of `exe` from the output of `ldd exe`: the binary, then every
// resolved library that is not a base system one (sorted by name). Throws
// Error(not_found) naming a library ldd could not resolve.
std::vector<BundleFile> bundle_files_from_ldd(const std::string& exe, std::string_view ldd_output);
// The same for a binary on this machine (runs ldd).
std::vector<BundleFile> bundle_files(const std::string& exe);
// The raycluster binary this process is (or $RAYCLUSTER_BIN, else the one on
// PATH); throws Error(not_found) when there is none.
std::string raycluster_binary();
// "sha256  name\n" per file, in bundle order (sha256sum -c reads it).
std::string bundle_manifest(const std::vector<BundleFile>& files);

// The spec for the head, as JSON (valid YAML) in Ray's schema: what the head
// needs to launch and set up workers, with auth.ssh_private_key at
// `key_path_on_head` (empty: none), and file mounts taken from the head's
// own copies when `mounts_on_head` (the head got them during its setup).
// Keys are paths, so no secret is in it.
Value head_spec_value(const ClusterSpec& spec, const std::string& key_path_on_head,
                      bool mounts_on_head);

// The control script (ctl.sh) of the head autoscaler in `dir`.
std::string head_control_script(const std::string& cluster_name);

}  // namespace raycluster::detail
