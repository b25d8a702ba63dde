// EBS volumes of a cluster: the answers of DescribeVolumes/CreateVolume and
// the waits on a volume's state. The provider's storage calls live in
// volumes.cpp (AwsProvider::list_volumes, attach_volume, ...).
#pragma once

#include <string>
#include <vector>

namespace raycluster::detail::ec2 {

// The tag naming a volume of the config (its value: the volume's name);
// volumes also carry the cluster's name and id tags.
inline constexpr const char* kVolumeTag = "raycluster-volume";

struct EbsVolume {
  std::string id;
  std::string zone;
  std::string state;  // creating, available, in-use, deleting, deleted, error
  std::string name;   // the raycluster-volume tag
  std::string cluster_id;
  std::string attached_instance;  // of the first attachment whose state is not "detached"
  std::string attachment_state;   // attaching, attached, detaching
  std::string device;             // the attachment's device name (/dev/sdf)
};

// DescribeVolumesResponse (volumeSet) or CreateVolumeResponse (one volume).
std::vector<EbsVolume> parse_volumes(std::string& body);
std::string parse_volumes_next_token(std::string& body);

// Stable names of an EBS volume on an instance: the Nitro NVMe name
// (/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol<hex>), then the
// device name given to AttachVolume (/dev/sdf) and its Xen alias (/dev/xvdf).
std::vector<std::string> ebs_device_names(const std::string& volume_id,
                                          const std::string& device_name);

// The device name a volume is attached as: /dev/sdf, /dev/sdg, ... by the
// volume's place in the config (at most 11: f..p, as EC2 suggests for EBS).
std::string ebs_device_name(int index);

}  // namespace raycluster::detail::ec2
