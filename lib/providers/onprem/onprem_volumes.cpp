// Volumes of the on-prem provider: folders on the head machine.
#include "providers/onprem/onprem_provider.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

namespace {

// Relative to the login's home on the machine.
std::string folder_of(const ClusterSpec& spec, const std::string& name) {
  return "raycluster-volumes/" + spec.cluster_name + "/" + name;
}

}  // namespace

Node OnpremProvider::head_machine() const {
  Node n;
  n.id = spec_.provider.head_ip;
  n.kind = NodeKind::head;
  n.internal_ip = spec_.provider.head_ip;
  n.external_ip = spec_.provider.head_ip;
  if (const Value* ext = spec_.provider.raw.find("external_head_ip"); ext && ext->is_string())
    n.external_ip = ext->as_string();
  return n;
}

int OnpremProvider::run_on_head(const std::string& command, const CancelToken& cancel,
                                std::string* output) {
  auto runner = command_runner(head_machine());
  CommandOptions co;
  co.cancel = cancel;
  co.timeout = std::chrono::minutes(2);
  co.on_line = [output](std::string_view line, bool is_stderr) {
    if (output && !is_stderr) *output += std::string(line) + "\n";
  };
  auto r = runner->run(command, co);
  if (r.cancelled) throw Error(ErrorCode::cancelled, "cancelled");
  return r.timed_out ? -1 : r.exit_status;
}

std::vector<Volume> OnpremProvider::list_volumes(const CancelToken& cancel) {
  std::vector<Volume> out;
  if (spec_.storage.empty() || spec_.provider.head_ip.empty()) return out;
  std::string cmd;
  for (const auto& v : spec_.storage)
    cmd += "[ -d \"$HOME\"/" + shell_quote(folder_of(spec_, v.name)) + " ] && echo " +
           shell_quote(v.name) + "; ";
  cmd += "true";
  std::string found;
  if (run_on_head(cmd, cancel, &found) != 0)
    throw Error(ErrorCode::unavailable,
                "could not look for the cluster's volumes on " + spec_.provider.head_ip);
  for (const auto& name : split(found, '\n')) {
    if (name.empty()) continue;
    out.push_back(Volume{name, "~/" + folder_of(spec_, name), "", "folder", ""});
  }
  return out;
}

VolumeAttachment OnpremProvider::attach_volume(const VolumeSpec& volume, const Node& node,
                                               const CancelToken& cancel) {
  (void)cancel;
  if (node.id != spec_.provider.head_ip)
    throw Error(ErrorCode::invalid_argument,
                "volume " + volume.name + ": on-prem volumes live on the head machine");
  VolumeAttachment a;
  a.folder = "~/" + folder_of(spec_, volume.name);
  a.volume = Volume{volume.name, a.folder, "", "folder", ""};
  return a;
}

void OnpremProvider::delete_volume(const Volume& volume, const CancelToken& cancel) {
  if (volume.id != "~/" + folder_of(spec_, volume.name))
    throw Error(ErrorCode::internal, "volume " + volume.name + " is not this cluster's folder");
  std::string cmd = "rm -rf -- \"$HOME\"/" + shell_quote(folder_of(spec_, volume.name));
  if (run_on_head(cmd, cancel, nullptr) != 0)
    throw Error(ErrorCode::command_failed,
                "could not delete volume " + volume.name + " on " + spec_.provider.head_ip);
}

}  // namespace raycluster::detail
