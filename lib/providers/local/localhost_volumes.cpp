// Volumes of the localhost provider: folders in the cluster's state folder.
#include "providers/local/localhost_provider.hpp"
#include "util/fs.hpp"

namespace raycluster::detail {

namespace {

std::string volumes_dir(const ClusterIdentity& id) { return id.state_dir + "/volumes"; }

}  // namespace

std::vector<Volume> LocalhostProvider::list_volumes(const CancelToken& cancel) {
  (void)cancel;
  std::vector<Volume> out;
  const std::string dir = volumes_dir(identity_);
  if (!detail::is_directory(dir)) return out;
  for (const auto& name : detail::list_dir(dir)) {
    if (!detail::is_directory(dir + "/" + name)) continue;
    out.push_back(Volume{name, dir + "/" + name, "", "folder", ""});
  }
  return out;
}

VolumeAttachment LocalhostProvider::attach_volume(const VolumeSpec& volume, const Node& node,
                                                  const CancelToken& cancel) {
  (void)node;
  (void)cancel;
  const std::string folder = volumes_dir(identity_) + "/" + volume.name;
  detail::make_dirs(folder, 0700);
  VolumeAttachment a;
  a.volume = Volume{volume.name, folder, "", "folder", ""};
  a.folder = folder;
  return a;
}

void LocalhostProvider::delete_volume(const Volume& volume, const CancelToken& cancel) {
  (void)cancel;
  const std::string folder = volumes_dir(identity_) + "/" + volume.name;
  if (volume.id != folder)
    throw Error(ErrorCode::internal, "volume " + volume.name + " is not this cluster's folder");
  detail::remove_tree(folder);
}

}  // namespace raycluster::detail
