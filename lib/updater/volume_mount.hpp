// The commands that mount a cluster volume on a node, as a real node needs
// them: find the device by its stable name, make a file system only when the
// device is blank (blkid finds none), mount it, and add an fstab entry with
// `nofail` so the node still boots when the volume is detached.
#pragma once

#include <string>
#include <vector>

namespace raycluster::detail {

struct VolumeMount {
  std::string name;        // the volume's name in the config (messages, file system label)
  std::string mount_path;  // absolute, or ~/... (the login user's home)
  // Paths under which the device may appear, tried in order; the first that
  // exists is the device (a symlink in /dev/disk/by-id is resolved). The
  // provider names them (an EBS volume: its Nitro NVMe name, then /dev/sdX
  // and /dev/xvdX).
  std::vector<std::string> devices;
  int wait_seconds = 120;  // how long to wait for the device after an attach
  std::string fstab = "/etc/fstab";
};

// A POSIX sh script that mounts the volume; idempotent (a volume already
// mounted there is left alone; a different device mounted there is an
// error). Uses sudo when not root. Exits non-zero with a message naming the
// volume when the device does not appear or blkid cannot read it.
std::string volume_mount_script(const VolumeMount& m);

// A volume that is a folder (localhost, on-prem): makes `folder` and makes
// the mount path a symbolic link to it (an empty folder there is replaced;
// anything else is an error naming the volume).
std::string folder_volume_script(const std::string& name, const std::string& folder,
                                 const std::string& mount_path);

}  // namespace raycluster::detail
