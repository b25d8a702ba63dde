#include "cluster/storage.hpp"

#include <algorithm>
#include <chrono>

#include "updater/volume_mount.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {

namespace {

constexpr auto kReadyDeadline = std::chrono::minutes(10);

// On localhost "~/" is the node's folder, as for file mounts.
std::string node_path(const std::string& path, const std::map<std::string, std::string>& env) {
  auto it = env.find("RAYCLUSTER_NODE_DIR");
  if (path.starts_with("~/") && it != env.end()) return it->second + path.substr(1);
  return path;
}

std::string unmount_script(const std::string& mount_path, bool folder) {
  std::string mp = mount_path.starts_with("~/") ? "\"$HOME\"/" + shell_quote(mount_path.substr(2))
                                                : shell_quote(mount_path);
  if (folder) return "mp=" + mp + "; if [ -L \"$mp\" ]; then rm -f \"$mp\"; fi";
  return "mp=" + mp + "; S=; [ \"$(id -u)\" = 0 ] || S=sudo; sync; "
         "if mountpoint -q \"$mp\" 2>/dev/null; then $S umount \"$mp\"; fi";
}

}  // namespace

void Storage::check_supported() const {
  if (spec_.storage.empty() || provider_.supports_storage()) return;
  throw Error(ErrorCode::unsupported,
              spec_.origin("storage").file + ": storage: the " + provider_.name() +
                  " provider cannot make volumes yet (localhost, on-prem and AWS can); remove the "
                  "section");
}

std::vector<const VolumeSpec*> Storage::volumes_of(const Node& node) const {
  std::vector<const VolumeSpec*> out;
  for (const auto& v : spec_.storage) {
    for (const auto& t : v.node_types) {
      bool head_type = t == spec_.head_node_type;
      if (t != node.node_type) continue;
      if (head_type && node.kind != NodeKind::head) continue;
      out.push_back(&v);
      break;
    }
  }
  return out;
}

void Storage::place_head(const CancelToken& cancel) {
  if (spec_.storage.empty()) return;
  std::vector<Volume> mine;
  for (auto& found : provider_.list_volumes(cancel)) {
    for (const auto& v : spec_.storage)
      if (v.name == found.name &&
          std::find(v.node_types.begin(), v.node_types.end(), spec_.head_node_type) !=
              v.node_types.end())
        mine.push_back(found);
  }
  provider_.place_head_near(mine);
}

void Storage::attach_and_mount(const std::vector<Node>& nodes, const CancelToken& cancel) {
  for (const auto& node : nodes) {
    auto volumes = volumes_of(node);
    if (volumes.empty()) continue;
    // A cloud attaches a volume only to a running instance: wait for it.
    auto runner = provider_.command_runner(node);
    runner->wait_ready(std::chrono::steady_clock::now() + kReadyDeadline, cancel);
    for (const auto* v : volumes) {
      cancel.throw_if_cancelled();
      auto a = provider_.attach_volume(*v, node, cancel);
      mount_on(*runner, node, a, *v, cancel);
    }
  }
}

void Storage::mount_on(CommandRunner& runner, const Node& node, const VolumeAttachment& a,
                       const VolumeSpec& v, const CancelToken& cancel) {
  CommandOptions co;
  co.env = provider_.node_environment(node);
  co.cancel = cancel;
  co.timeout = std::chrono::minutes(5);
  std::string script;
  if (!a.folder.empty()) {
    script = folder_volume_script(v.name, a.folder, node_path(v.mount_path, co.env));
  } else {
    VolumeMount m;
    m.name = v.name;
    m.mount_path = v.mount_path;
    m.devices = a.devices;
    script = volume_mount_script(m);
  }
  auto r = runner.run(script, co);
  if (r.cancelled) throw Error(ErrorCode::cancelled, "mounting volume " + v.name + " cancelled");
  if (!r.ok())
    throw Error(ErrorCode::command_failed,
                "node " + node.id + ": volume " + v.name + " could not be mounted at " +
                    v.mount_path + " (exit " + std::to_string(r.exit_status) + "): " +
                    terminal_safe(r.output_tail, true));
  log_("volume " + v.name + " (" + a.volume.id + ") mounted at " + v.mount_path + " on " +
           node.id,
       LogLevel::info);
}

void Storage::release(const std::vector<Node>& nodes, const CancelToken& cancel) {
  // Nothing to unmount without volumes in the config (no cloud call either);
  // a cloud detaches a volume from a terminated instance by itself.
  if (spec_.storage.empty() || !provider_.supports_storage()) return;
  std::vector<Volume> volumes;
  try {
    volumes = provider_.list_volumes(cancel);
  } catch (const Error& e) {
    log_("could not list the cluster's volumes: " + std::string(e.what()), LogLevel::warning);
    return;
  }
  for (const auto& node : nodes) {
    for (const auto* v : volumes_of(node)) {
      try {
        auto runner = provider_.command_runner(node);
        CommandOptions co;
        co.env = provider_.node_environment(node);
        co.cancel = cancel;
        co.timeout = std::chrono::minutes(2);
        bool folder = std::any_of(volumes.begin(), volumes.end(), [&](const Volume& x) {
          return x.name == v->name && x.state == "folder";
        });
        runner->run(unmount_script(node_path(v->mount_path, co.env), folder), co);
      } catch (const Error& e) {
        log_("node " + node.id + ": volume " + v->name + " not unmounted: " + e.what(),
             LogLevel::warning);
      }
    }
  }
  for (const auto& vol : volumes) {
    bool ours = std::any_of(nodes.begin(), nodes.end(),
                            [&](const Node& n) { return n.id == vol.attached_to; });
    if (!ours) continue;
    provider_.detach_volume(vol, cancel);
    log_("volume " + vol.name + " (" + vol.id + ") detached and kept", LogLevel::info);
  }
}

std::vector<std::string> Storage::delete_all(const CancelToken& cancel) {
  std::vector<std::string> names;
  if (!provider_.supports_storage()) return names;
  for (const auto& vol : provider_.list_volumes(cancel)) {
    cancel.throw_if_cancelled();
    provider_.delete_volume(vol, cancel);
    log_("volume " + vol.name + " (" + vol.id + ") deleted", LogLevel::info);
    names.push_back(vol.name);
  }
  return names;
}

}  // namespace raycluster::detail
