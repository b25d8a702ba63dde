// Cluster volumes as a provider sees them (the config's `storage:` section).
#pragma once

#include <string>
#include <vector>

namespace raycluster {

// A volume the provider found: an EBS volume, a GCP persistent disk, or a
// folder. Found again by the cluster id and the volume's name, which it
// carries from creation (tags, labels, its folder's path).
struct Volume {
  std::string name;         // the config's name
  std::string id;           // the cloud's id (vol-…, the disk's name) or the folder
  std::string zone;         // empty where zones mean nothing
  std::string state;        // the cloud's word ("available", "in-use", …); "folder"
  std::string attached_to;  // the node id it is attached to, or empty
};

// Where an attached volume shows up on its node.
struct VolumeAttachment {
  Volume volume;
  // A block device: its stable names, tried in order (see updater/volume_mount.hpp).
  std::vector<std::string> devices;
  // A folder volume: the folder on the node (devices is then empty).
  std::string folder;
};

}  // namespace raycluster
