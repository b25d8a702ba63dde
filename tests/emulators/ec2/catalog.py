"""Read-only catalogue actions: DescribeImages, DescribeAvailabilityZones,
DescribeRegions, DescribeInstanceTypes.

Images are the seeded Canonical Ubuntu images (owner 099720109477) and one
Amazon Linux image (alias ``amazon``). ``Owners`` takes account ids, ``self``
and aliases; image ids are checked (``InvalidAMIID.Malformed`` /
``InvalidAMIID.NotFound``). Instance type names not known here are
``InvalidInstanceType``; MaxResults of DescribeInstanceTypes is 5..100.
"""
from types import SimpleNamespace

from . import filters
from .common import action, check_ids, paginate, tag_list
from .errors import Ec2Error
from .state import ACCOUNT_ID, INSTANCE_TYPES


def _image_view(image):
    return {
        "ImageId": image.id, "ImageLocation": f"{image.owner_id}/{image.name}", "State": image.state,
        "OwnerId": image.owner_id, "CreationDate": image.creation_date, "Public": True,
        "Architecture": image.architecture, "ImageType": "machine", "Name": image.name,
        "Description": image.description, "ImageOwnerAlias": image.alias, "RootDeviceType": "ebs",
        "RootDeviceName": image.root_device, "VirtualizationType": "hvm", "Hypervisor": "xen",
        "EnaSupport": True, "SriovNetSupport": "simple", "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances", "BootMode": "uefi-preferred",
        "BlockDeviceMappings": [
            {"DeviceName": image.root_device, "Ebs": {
                "SnapshotId": image.snapshot_id, "VolumeSize": image.size_gib, "VolumeType": "gp3",
                "DeleteOnTermination": True, "Encrypted": False, "Iops": 3000, "Throughput": 125}},
            {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
            {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral1"}],
        "Tags": tag_list(image.tags) if image.tags else None,
    }


@action("DescribeImages")
def describe_images(api, p):
    world = api.world
    ids = p.get("ImageIds") or []
    check_ids(ids, "ami", world.images, "InvalidAMIID", "image id")
    images = [i for i in world.images.values() if not ids or i.id in ids]
    owners = p.get("Owners") or []
    if owners:
        wanted = {ACCOUNT_ID if o == "self" else o for o in owners}
        images = [i for i in images if i.owner_id in wanted or (i.alias and i.alias in wanted)]
    fields = {"name": lambda i: [i.name], "image-id": lambda i: [i.id], "owner-id": lambda i: [i.owner_id],
              "owner-alias": lambda i: [i.alias] if i.alias else [], "architecture": lambda i: [i.architecture],
              "state": lambda i: [i.state], "virtualization-type": lambda i: ["hvm"],
              "root-device-type": lambda i: ["ebs"], "root-device-name": lambda i: [i.root_device],
              "is-public": lambda i: ["true"], "image-type": lambda i: ["machine"],
              "description": lambda i: [i.description], "hypervisor": lambda i: ["xen"],
              "ena-support": lambda i: ["true"], "platform-details": lambda i: ["Linux/UNIX"],
              "block-device-mapping.volume-type": lambda i: ["gp3"],
              "creation-date": lambda i: [i.creation_date]}
    images = filters.apply(p.get("Filters"), images, fields)
    page, token = paginate(images, p, "images", key=lambda i: i.id, with_ids="imageIds" if ids else None,
                           minimum=1, maximum=1000)
    return {"Images": [_image_view(i) for i in page], "NextToken": token}


@action("DescribeAvailabilityZones")
def describe_availability_zones(api, p):
    world = api.world
    zones = [{"ZoneName": name, "ZoneId": zone_id} for name, zone_id in world.zones()]
    for name in p.get("ZoneNames") or []:
        if name not in {z["ZoneName"] for z in zones}:
            raise Ec2Error("InvalidParameterValue", f"The zone '{name}' does not exist.")
    for zone_id in p.get("ZoneIds") or []:
        if zone_id not in {z["ZoneId"] for z in zones}:
            raise Ec2Error("InvalidParameterValue", f"The zone ID '{zone_id}' does not exist.")
    if p.get("ZoneNames"):
        zones = [z for z in zones if z["ZoneName"] in p["ZoneNames"]]
    if p.get("ZoneIds"):
        zones = [z for z in zones if z["ZoneId"] in p["ZoneIds"]]
    fields = {"zone-name": lambda z: [z.name], "zone-id": lambda z: [z.zone_id], "state": lambda z: ["available"],
              "region-name": lambda z: [world.region], "zone-type": lambda z: ["availability-zone"],
              "opt-in-status": lambda z: ["opt-in-not-required"], "group-name": lambda z: [world.region]}
    items = [SimpleNamespace(name=z["ZoneName"], zone_id=z["ZoneId"], tags={}) for z in zones]
    zones = filters.apply(p.get("Filters"), items, fields)
    return {"AvailabilityZones": [{
        "ZoneName": z.name, "ZoneId": z.zone_id, "State": "available", "RegionName": world.region,
        "OptInStatus": "opt-in-not-required", "Messages": [], "GroupName": world.region,
        "NetworkBorderGroup": world.region, "ZoneType": "availability-zone", "GroupLongName": world.region}
        for z in zones]}


@action("DescribeRegions")
def describe_regions(api, p):
    region = api.world.region
    names = p.get("RegionNames") or []
    for name in names:
        if name != region:
            raise Ec2Error("InvalidParameterValue", f"Invalid region names: {name}")
    return {"Regions": [{"RegionName": region, "Endpoint": f"ec2.{region}.amazonaws.com",
                         "OptInStatus": "opt-in-not-required"}]}


def _type_view(name):
    vcpus, memory, architectures, gpu = INSTANCE_TYPES[name]
    view = {
        "InstanceType": name, "CurrentGeneration": name != "m1.small", "FreeTierEligible": name == "t3.micro",
        "SupportedUsageClasses": ["on-demand", "spot"], "SupportedRootDeviceTypes": ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"], "BareMetal": False, "Hypervisor": "nitro",
        "ProcessorInfo": {"SupportedArchitectures": architectures},
        "VCpuInfo": {"DefaultVCpus": vcpus, "DefaultCores": max(1, vcpus // 2),
                     "DefaultThreadsPerCore": 2 if vcpus > 1 else 1},
        "MemoryInfo": {"SizeInMiB": memory}, "InstanceStorageSupported": False,
        "BurstablePerformanceSupported": name.startswith("t"), "HibernationSupported": False,
        "SupportedBootModes": ["legacy-bios", "uefi"],
    }
    if gpu:
        gpu_name, maker, count, gpu_memory = gpu
        view["GpuInfo"] = {"Gpus": [{"Name": gpu_name, "Manufacturer": maker, "Count": count,
                                     "MemoryInfo": {"SizeInMiB": gpu_memory}}],
                           "TotalGpuMemoryInMiB": gpu_memory * count}
    return view


@action("DescribeInstanceTypes")
def describe_instance_types(api, p):
    names = p.get("InstanceTypes") or []
    unknown = [n for n in names if n not in INSTANCE_TYPES]
    if unknown:
        raise Ec2Error("InvalidInstanceType", f"The following supplied instance types do not exist: "
                       f"[{', '.join(unknown)}]")
    items = [SimpleNamespace(name=n, tags={}) for n in (names or sorted(INSTANCE_TYPES))]
    fields = {"instance-type": lambda t: [t.name],
              "processor-info.supported-architecture": lambda t: INSTANCE_TYPES[t.name][2],
              "vcpu-info.default-vcpus": lambda t: [INSTANCE_TYPES[t.name][0]],
              "memory-info.size-in-mib": lambda t: [INSTANCE_TYPES[t.name][1]],
              "current-generation": lambda t: [str(t.name != "m1.small").lower()]}
    items = filters.apply(p.get("Filters"), items, fields)
    page, token = paginate(items, p, "instance-types", key=lambda t: t.name, minimum=5, maximum=100)
    return {"InstanceTypes": [_type_view(t.name) for t in page], "NextToken": token}
