// The AWS provider's storage: EBS volumes, tagged from creation.
#include "providers/aws/volumes.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <cstring>

#include "providers/aws/aws_provider.hpp"
#include "util/hash.hpp"
#include "util/strings.hpp"

namespace raycluster::detail::ec2 {

namespace {

constexpr unsigned kParseFlags = pugi::parse_escapes | pugi::parse_eol;
constexpr int kMaxVolumes = 500;  // a cluster has a few; a bound on a hostile answer

void load(pugi::xml_document& doc, std::string& body) {
  auto r = doc.load_buffer_inplace(body.data(), body.size(), kParseFlags, pugi::encoding_utf8);
  if (!r)
    throw Error(ErrorCode::invalid_request,
                std::string("EC2 answered with malformed XML: ") + r.description());
}

EbsVolume volume_of(const pugi::xml_node& v) {
  EbsVolume out;
  out.id = v.child_value("volumeId");
  out.zone = v.child_value("availabilityZone");
  out.state = v.child_value("status");
  for (auto t = v.child("tagSet").first_child(); t; t = t.next_sibling()) {
    std::string key = t.child_value("key");
    if (key == kVolumeTag) out.name = t.child_value("value");
    if (key == tags::cluster_id) out.cluster_id = t.child_value("value");
  }
  for (auto a = v.child("attachmentSet").first_child(); a; a = a.next_sibling()) {
    std::string st = a.child_value("status");
    if (st == "detached") continue;
    out.attached_instance = a.child_value("instanceId");
    out.attachment_state = st;
    out.device = a.child_value("device");
    break;
  }
  return out;
}

void add_tag_spec(QueryParams& p, const std::map<std::string, std::string>& tags) {
  p.emplace_back("TagSpecification.1.ResourceType", "volume");
  int i = 1;
  for (const auto& [k, v] : tags) {
    p.emplace_back("TagSpecification.1.Tag." + std::to_string(i) + ".Key", k);
    p.emplace_back("TagSpecification.1.Tag." + std::to_string(i) + ".Value", v);
    ++i;
  }
}

}  // namespace

std::vector<EbsVolume> parse_volumes(std::string& body) {
  pugi::xml_document doc;
  load(doc, body);
  auto root = doc.document_element();
  std::vector<EbsVolume> out;
  if (std::strcmp(root.name(), "CreateVolumeResponse") == 0) {
    out.push_back(volume_of(root));
    return out;
  }
  for (auto v = root.child("volumeSet").first_child(); v; v = v.next_sibling()) {
    if (static_cast<int>(out.size()) >= kMaxVolumes)
      throw Error(ErrorCode::invalid_request, "DescribeVolumes answered with more than " +
                                                  std::to_string(kMaxVolumes) + " volumes");
    out.push_back(volume_of(v));
  }
  return out;
}

std::string parse_volumes_next_token(std::string& body) {
  pugi::xml_document doc;
  load(doc, body);
  return doc.document_element().child_value("nextToken");
}

std::vector<std::string> ebs_device_names(const std::string& volume_id,
                                          const std::string& device_name) {
  std::string hex = volume_id;
  if (hex.starts_with("vol-")) hex = "vol" + hex.substr(4);
  std::vector<std::string> out{"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_" + hex};
  if (!device_name.empty()) {
    out.push_back(device_name);
    if (device_name.starts_with("/dev/sd")) out.push_back("/dev/xvd" + device_name.substr(7));
  }
  return out;
}

std::string ebs_device_name(int index) {
  if (index < 0 || index > 10)
    throw Error(ErrorCode::invalid_argument, "at most 11 EBS volumes per node (/dev/sdf../dev/sdp)");
  return std::string("/dev/sd") + static_cast<char>('f' + index);
}

// ---- AwsProvider's storage ----

std::vector<EbsVolume> AwsProvider::describe_volumes(const std::string& name,
                                                     const CancelToken& cancel) {
  std::vector<EbsVolume> out;
  std::string next;
  do {
    QueryParams p;
    add_filter(p, 1, std::string("tag:") + tags::cluster_id, {identity_.id});
    if (!name.empty())
      add_filter(p, 2, std::string("tag:") + kVolumeTag, {name});
    else
      add_filter(p, 2, "tag-key", {kVolumeTag});
    if (!next.empty()) p.emplace_back("NextToken", next);
    std::string body = client_->call("DescribeVolumes", p, cancel);
    std::string copy = body;
    for (auto& v : parse_volumes(body))
      if (v.state != "deleted" && v.state != "deleting") out.push_back(std::move(v));
    next = parse_volumes_next_token(copy);
    if (out.size() > static_cast<std::size_t>(kMaxVolumes)) break;
  } while (!next.empty());
  return out;
}

// Polls the volume until `done` says so; throws Error(timeout) after the
// provider's operation timeout, naming what it waited for.
EbsVolume AwsProvider::wait_volume(const std::string& name, const std::string& what,
                                   const std::function<bool(const EbsVolume&)>& done,
                                   const CancelToken& cancel) {
  const auto deadline = ctx_.now() + ctx_.settings.operation_timeout;
  std::chrono::milliseconds pause{500};
  for (;;) {
    auto found = describe_volumes(name, cancel);
    if (found.size() == 1 && done(found.front())) return found.front();
    if (found.size() > 1)
      throw Error(ErrorCode::conflict, "cluster " + spec_.cluster_name + " has " +
                                           std::to_string(found.size()) + " volumes named " + name +
                                           ": delete the extra ones");
    if (ctx_.now() > deadline)
      throw Error(ErrorCode::timeout, "volume " + name + " did not become " + what + " in time");
    if (!ctx_.sleep(pause, cancel)) throw Error(ErrorCode::cancelled, "cancelled");
    pause = std::min(pause * 2, std::chrono::milliseconds(5000));
  }
}

std::vector<Volume> AwsProvider::list_volumes(const CancelToken& cancel) {
  std::vector<Volume> out;
  for (const auto& v : describe_volumes("", cancel))
    out.push_back(Volume{v.name, v.id, v.zone, v.state, v.attached_instance});
  return out;
}

void AwsProvider::place_head_near(const std::vector<Volume>& head_volumes) {
  std::lock_guard<std::mutex> lock(mu_);
  head_zone_.clear();
  head_zone_reason_.clear();
  for (const auto& v : head_volumes) {
    if (v.zone.empty()) continue;
    if (!head_zone_.empty() && head_zone_ != v.zone)
      throw Error(ErrorCode::invalid_request,
                  "the head's volumes are in different zones (" + head_zone_reason_ + ", " + v.name +
                      " in " + v.zone + "): an EBS volume attaches only in its zone");
    head_zone_ = v.zone;
    head_zone_reason_ = v.name + " in " + v.zone;
  }
}

std::vector<Placement> AwsProvider::head_placements(std::vector<Placement> all) const {
  std::string zone, reason;
  {
    std::lock_guard<std::mutex> lock(mu_);
    zone = head_zone_;
    reason = head_zone_reason_;
  }
  if (zone.empty()) return all;
  std::vector<Placement> out;
  std::vector<std::string> zones;
  for (const auto& p : all) {
    if (p.zone == zone) out.push_back(p);
    zones.push_back(p.zone.empty() ? p.subnet_id : p.zone);
  }
  if (out.empty())
    throw Error(ErrorCode::invalid_request,
                "the head must launch where its volume is (" + reason +
                    "), but its subnets are in " + (zones.empty() ? "no known zone" : join(zones, ", ")) +
                    ": add a subnet of " + zone + " (availability_zone or SubnetIds), or "
                    "`down --delete-storage` to start the volume afresh");
  return out;
}

EbsVolume AwsProvider::create_volume(const VolumeSpec& volume, const std::string& zone,
                                     const CancelToken& cancel) {
  QueryParams p;
  p.emplace_back("AvailabilityZone", zone);
  p.emplace_back("Size", std::to_string(volume.size_gb));
  p.emplace_back("VolumeType", volume.type);
  // The same volume of the same cluster in the same zone: a retried call
  // (an answer lost) returns the first volume instead of making another.
  p.emplace_back("ClientToken", "rc-" + sha256_hex(identity_.id + "|" + volume.name + "|" + zone)
                                            .substr(0, 40));
  Tags t = {{tags::cluster_name, spec_.cluster_name},
            {tags::cluster_id, identity_.id},
            {kVolumeTag, volume.name},
            {"Name", "ray-" + spec_.cluster_name + "-" + volume.name}};
  add_tag_spec(p, t);
  std::string body = client_->call("CreateVolume", p, cancel);
  auto made = parse_volumes(body);
  if (made.empty() || made.front().id.empty())
    throw Error(ErrorCode::invalid_request, "CreateVolume answered without a volume id");
  return made.front();
}

VolumeAttachment AwsProvider::attach_volume(const VolumeSpec& volume, const Node& node,
                                            const CancelToken& cancel) {
  auto instances = describe_ids({node.id});
  if (instances.empty())
    throw Error(ErrorCode::not_found, "instance " + node.id + " not found to attach " + volume.name);
  const std::string zone = instances.front().zone;
  auto found = describe_volumes(volume.name, cancel);
  if (found.size() > 1)
    throw Error(ErrorCode::conflict, "cluster " + spec_.cluster_name + " has " +
                                         std::to_string(found.size()) + " volumes named " +
                                         volume.name + ": delete the extra ones");
  if (found.empty()) {
    auto made = create_volume(volume, zone, cancel);
    found.push_back(made);
  }
  EbsVolume v = found.front();
  if (v.zone != zone)
    throw Error(ErrorCode::invalid_request,
                "volume " + volume.name + " (" + v.id + ") is in " + v.zone + " but node " + node.id +
                    " is in " + zone + ": an EBS volume attaches only in its zone");
  if (!v.attached_instance.empty() && v.attached_instance != node.id) {
    // Still on an instance that is ending (a replaced head): wait it out.
    auto other = describe_ids({v.attached_instance});
    bool ending = other.empty() || other.front().state == "shutting-down" ||
                  other.front().state == "terminated";
    if (!ending)
      throw Error(ErrorCode::conflict, "volume " + volume.name + " (" + v.id +
                                           ") is attached to " + v.attached_instance +
                                           ", another instance");
  }
  if (v.attached_instance != node.id) {
    v = wait_volume(volume.name, "available",
                    [](const EbsVolume& x) { return x.state == "available"; }, cancel);
    int index = 0;
    for (std::size_t i = 0; i < spec_.storage.size(); ++i)
      if (spec_.storage[i].name == volume.name) index = static_cast<int>(i);
    QueryParams p;
    p.emplace_back("Device", ebs_device_name(index));
    p.emplace_back("InstanceId", node.id);
    p.emplace_back("VolumeId", v.id);
    client_->call("AttachVolume", p, cancel);
  }
  v = wait_volume(volume.name, "attached to " + node.id,
                  [&](const EbsVolume& x) {
                    return x.attached_instance == node.id && x.attachment_state == "attached";
                  },
                  cancel);
  VolumeAttachment a;
  a.volume = Volume{v.name, v.id, v.zone, v.state, v.attached_instance};
  a.devices = ebs_device_names(v.id, v.device);
  return a;
}

void AwsProvider::detach_volume(const Volume& volume, const CancelToken& cancel) {
  if (volume.attached_to.empty()) return;
  // InstanceId too: the detach names the attachment it means (moto needs it).
  QueryParams p;
  p.emplace_back("InstanceId", volume.attached_to);
  p.emplace_back("VolumeId", volume.id);
  client_->call("DetachVolume", p, cancel);
  wait_volume(volume.name, "detached", [](const EbsVolume& x) { return x.state == "available"; },
              cancel);
}

void AwsProvider::delete_volume(const Volume& volume, const CancelToken& cancel) {
  // Attached to a terminated instance it becomes available by itself.
  wait_volume(volume.name, "available", [](const EbsVolume& x) { return x.state == "available"; },
              cancel);
  QueryParams p;
  p.emplace_back("VolumeId", volume.id);
  client_->call("DeleteVolume", p, cancel);
}

}  // namespace raycluster::detail::ec2
