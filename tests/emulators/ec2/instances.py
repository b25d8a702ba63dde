"""Instance actions: RunInstances, DescribeInstances, Terminate/Stop/StartInstances.

What is checked as EC2 checks it:

* RunInstances: MinCount >= 1 and MaxCount >= MinCount; the image, key pair,
  subnet and groups exist; a subnet (or network interface) and groups belong to
  one VPC; SubnetId/SecurityGroupIds may not be combined with
  NetworkInterfaces; the instance type's architecture matches the image's;
  root volumes are not smaller than the image's snapshot; user data is base64
  of at most 16 KiB; one-time spot requests only terminate on interruption;
  TagSpecifications only for instance, volume, network-interface and
  spot-instances-request, each type once. ``ClientToken``: the same token with
  the same parameters answers the first launch's reservation and launches
  nothing; with other parameters it is ``IdempotentParameterMismatch``.
  Capacity: ``capacity_errors`` fail a zone outright; ``zone_capacity`` bounds
  the count, launching as many as fit up to MaxCount, or failing with
  ``InsufficientInstanceCapacity`` below MinCount.
* DescribeInstances: ids well-formed and present (terminated ones stay visible
  for a while), filters, MaxResults 5..1000 never with InstanceIds, NextToken.
* Terminate/Stop/Start: every id must exist or the whole call fails; a state
  that does not allow the change is ``IncorrectInstanceState``; a one-time spot
  instance cannot be stopped (``UnsupportedOperation``).
"""
import base64
import binascii
import hashlib
import json

from . import filters
from .common import action, check_ids, dry_run, paginate, tag_list, tag_specifications
from .errors import Ec2Error
from .state import ACCOUNT_ID, INSTANCE_TYPES, STATE_CODES, Instance, Volume, new_id, utcnow

MAX_USER_DATA = 16 * 1024
RUN_TAGGABLE = ("instance", "volume", "network-interface", "spot-instances-request")


def _state(inst_state):
    return {"Code": STATE_CODES[inst_state], "Name": inst_state}


def _fingerprint(raw_params):
    """What makes two RunInstances calls 'the same request' for ClientToken."""
    relevant = {k: v for k, v in raw_params.items() if k not in ("Action", "Version")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _resolve_network(api, p):
    """Subnet, its VPC and the security group ids for a launch, checked."""
    world = api.world
    interfaces = p.get("NetworkInterfaces") or []
    primary = next((n for n in interfaces if n.get("DeviceIndex", 0) == 0), None)
    if interfaces and primary is None:
        raise Ec2Error("InvalidParameterValue", "A network interface with DeviceIndex 0 is required")
    if primary is not None:
        if p.get("SubnetId"):
            raise Ec2Error("InvalidParameterCombination", "Network interfaces and an instance-level subnet ID "
                           "may not be specified on the same request")
        if p.get("SecurityGroupIds") or p.get("SecurityGroups"):
            raise Ec2Error("InvalidParameterCombination", "Network interfaces and an instance-level security "
                           "groups may not be specified on the same request")
        if primary.get("NetworkInterfaceId"):
            raise Ec2Error("InvalidNetworkInterfaceID.NotFound",
                           f"The networkInterface ID '{primary['NetworkInterfaceId']}' does not exist")
        for other in interfaces:
            if other is not primary and other.get("AssociatePublicIpAddress") is not None:
                raise Ec2Error("InvalidParameterCombination",
                               "The associatePublicIPAddress parameter can only be specified for the network "
                               "interface with DeviceIndex 0.")
    subnet_id = (primary or {}).get("SubnetId") or p.get("SubnetId")
    zone = (p.get("Placement") or {}).get("AvailabilityZone")
    if zone and zone not in dict(world.zones()):
        raise Ec2Error("InvalidParameterValue", f"Invalid availability zone: [{zone}]")
    if subnet_id:
        check_ids([subnet_id], "subnet", world.subnets, "InvalidSubnetID", "subnet ID")
        subnet = world.subnets[subnet_id]
        if zone and zone != subnet.zone:
            raise Ec2Error("InvalidParameterValue",
                           f"The specified subnet {subnet_id} is in {subnet.zone}, not in {zone}")
    else:
        subnet = world.default_subnet(zone)
        if subnet is None:
            raise Ec2Error("MissingInput", "No default subnet for availability zone: " + str(zone))
    group_ids = list((primary or {}).get("Groups") or p.get("SecurityGroupIds") or [])
    names = p.get("SecurityGroups") or []
    if names:
        if subnet.vpc_id != world.default_vpc_id:
            raise Ec2Error("InvalidParameterCombination",
                           "The parameter groupName cannot be used with the parameter subnet")
        for name in names:
            match = next((g for g in world.groups.values() if g.vpc_id == subnet.vpc_id and g.name == name), None)
            if match is None:
                raise Ec2Error("InvalidGroup.NotFound",
                               f"The security group '{name}' does not exist in VPC '{subnet.vpc_id}'")
            group_ids.append(match.id)
    if group_ids:
        check_ids(group_ids, "sg", world.groups, "InvalidGroup", "security group")
        for gid in group_ids:
            if world.groups[gid].vpc_id != subnet.vpc_id:
                raise Ec2Error("InvalidParameter",
                               f"Security group {gid} and subnet {subnet.id} belong to different networks.")
    else:
        group_ids = [world.default_group(subnet.vpc_id).id]
    wants_public = subnet.map_public_ip
    if primary is not None and primary.get("AssociatePublicIpAddress") is not None:
        wants_public = primary["AssociatePublicIpAddress"]
    private_ip = (primary or {}).get("PrivateIpAddress") or p.get("PrivateIpAddress")
    return subnet, list(dict.fromkeys(group_ids)), wants_public, private_ip


def _check_spot(p):
    options = p.get("InstanceMarketOptions")
    if not options:
        return False, False
    if options.get("MarketType") not in ("spot", None):
        raise Ec2Error("InvalidParameterValue",
                       f"Value ({options.get('MarketType')}) for parameter marketType is invalid.")
    spot = options.get("SpotOptions") or {}
    kind = spot.get("SpotInstanceType", "one-time")
    behaviour = spot.get("InstanceInterruptionBehavior", "terminate")
    if kind == "one-time" and behaviour != "terminate":
        raise Ec2Error("InvalidParameterCombination",
                       "For one-time Spot Instance requests, the only supported interruption behavior is terminate.")
    if "MaxPrice" in spot:
        try:
            if float(spot["MaxPrice"]) <= 0:
                raise ValueError
        except ValueError:
            raise Ec2Error("InvalidParameterValue", f"Invalid max price: {spot['MaxPrice']}") from None
    return True, kind == "persistent" and behaviour in ("stop", "hibernate")


def _block_devices(p, image):
    """The volumes to create: [(device, size, type, delete_on_termination, iops, encrypted)]."""
    devices = {image.root_device: [image.size_gib, "gp3", True, None, False]}
    for mapping in p.get("BlockDeviceMappings") or []:
        device = mapping.get("DeviceName")
        if not device:
            raise Ec2Error("InvalidBlockDeviceMapping", "The device name must be specified in a block device mapping")
        if mapping.get("NoDevice") is not None or mapping.get("VirtualName"):
            devices.pop(device, None)
            continue
        ebs = mapping.get("Ebs")
        if ebs is None:
            raise Ec2Error("InvalidBlockDeviceMapping", f"No Ebs, VirtualName or NoDevice for {device}")
        base = devices.get(device, [None, "gp3", True, None, False])
        size = ebs.get("VolumeSize", base[0])
        if device == image.root_device and size is not None and size < image.size_gib:
            raise Ec2Error("InvalidBlockDeviceMapping",
                           f"Volume of size {size}GB is smaller than snapshot '{image.snapshot_id}', "
                           f"expect size >= {image.size_gib}GB")
        if size is None:
            raise Ec2Error("InvalidBlockDeviceMapping", f"The volume size must be specified for {device}")
        if ebs.get("VolumeType") in ("io1", "io2") and not ebs.get("Iops"):
            raise Ec2Error("InvalidParameterCombination",
                           "The parameter iops must be specified for io1 and io2 volumes.")
        devices[device] = [size, ebs.get("VolumeType", base[1]), ebs.get("DeleteOnTermination", True),
                           ebs.get("Iops"), ebs.get("Encrypted", False)]
    return [(d, *v) for d, v in devices.items()]


def _user_data(p):
    data = p.get("UserData")
    if data is None:
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise Ec2Error("InvalidParameterValue", "Invalid BASE64 encoding of user data.") from None
    if len(raw) > MAX_USER_DATA:
        raise Ec2Error("InvalidParameterValue", f"User data is limited to {MAX_USER_DATA} bytes")
    return data


def _iam_profile(api, p):
    profile = p.get("IamInstanceProfile")
    if not profile:
        return None
    iam = getattr(api.world, "iam", None)
    arn, name = profile.get("Arn"), profile.get("Name")
    if arn and name:
        raise Ec2Error("InvalidParameterCombination",
                       "The parameter 'iamInstanceProfile.name' may not be used in combination with "
                       "'iamInstanceProfile.arn'")
    if arn and not arn.startswith("arn:aws:iam::"):
        raise Ec2Error("InvalidParameterValue", f"Value ({arn}) for parameter iamInstanceProfile.arn is invalid.")
    if not arn and not name:
        raise Ec2Error("InvalidParameterValue", "An IAM instance profile needs a name or an ARN")
    if iam is not None:
        found = iam.profile_for_launch(arn or name)
        return {"Arn": found.arn, "Id": found.id}
    return {"Arn": arn or f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{name}",
            "Id": "AIPA" + hashlib.sha1((arn or name).encode()).hexdigest()[:17].upper()}


@action("RunInstances")
def run_instances(api, p):
    world = api.world
    token = p.get("ClientToken")
    if token is not None and (len(token) > 64 or not token.isascii()):
        raise Ec2Error("InvalidParameterValue", "ClientToken must be at most 64 ASCII characters")
    if token and token in world.client_tokens:
        fingerprint, reservation_id = world.client_tokens[token]
        if fingerprint != _fingerprint(api.raw_params):
            raise Ec2Error("IdempotentParameterMismatch",
                           f"Arguments on this idempotent request are inconsistent with arguments used in "
                           f"previous request(s) with the client token '{token}'.")
        return reservation_view(api, reservation_id)
    min_count, max_count = p["MinCount"], p["MaxCount"]
    if min_count < 1:
        raise Ec2Error("InvalidParameterValue", f"Value ({min_count}) for parameter minCount is invalid. "
                       "Expected a value greater than 0.")
    if max_count < min_count:
        raise Ec2Error("InvalidParameterValue",
                       f"Value ({max_count}) for parameter maxCount is invalid. Expected a value of at least "
                       f"minCount ({min_count}).")
    if p.get("LaunchTemplate"):
        raise Ec2Error("InvalidLaunchTemplateId.NotFound", "Launch templates are not emulated")
    image_id = p.get("ImageId")
    if not image_id:
        raise Ec2Error("MissingParameter", "The request must contain the parameter ImageId")
    check_ids([image_id], "ami", world.images, "InvalidAMIID", "image id")
    image = world.images[image_id]
    if image.state != "available":
        raise Ec2Error("InvalidAMIID.Unavailable", f"The image id '[{image_id}]' is not available")
    instance_type = p.get("InstanceType", "m1.small")
    spec = INSTANCE_TYPES.get(instance_type)
    if spec is not None and image.architecture not in spec[2]:
        raise Ec2Error("InvalidParameterValue",
                       f"The architecture '{spec[2][0]}' of the specified instance type does not match the "
                       f"architecture '{image.architecture}' of the specified AMI. Specify an instance type and "
                       f"an AMI that have matching architectures, and try again.")
    key_name = p.get("KeyName")
    if key_name and key_name not in world.key_pairs:
        raise Ec2Error("InvalidKeyPair.NotFound", f"The key pair '{key_name}' does not exist")
    subnet, group_ids, wants_public, fixed_ip = _resolve_network(api, p)
    if fixed_ip is not None:
        if max_count > 1:
            raise Ec2Error("InvalidParameterCombination",
                           "Cannot specify a private IP address when launching more than one instance")
        if fixed_ip in world.used_private_ips():
            raise Ec2Error("InvalidIPAddress.InUse", f"Address {fixed_ip} is in use.")
    spot, spot_stoppable = _check_spot(p)
    devices = _block_devices(p, image)
    user_data = _user_data(p)
    profile = _iam_profile(api, p)
    tags = tag_specifications(p.get("TagSpecifications"), RUN_TAGGABLE)
    dry_run(p)

    capacity_code = api.faults.capacity_error(subnet.zone)
    others = ", ".join(z for z, _ in world.zones() if z != subnet.zone)
    if capacity_code == "Unsupported":
        raise Ec2Error("Unsupported",
                       f"Your requested instance type ({instance_type}) is not supported in your requested "
                       f"Availability Zone ({subnet.zone}). Please retry your request by not specifying an "
                       f"Availability Zone or choosing {others}.", fault="capacity")
    count = max_count
    room = api.faults.zone_capacity(subnet.zone)
    if room is not None:
        used = sum(1 for i in world.visible_instances() if i.zone == subnet.zone and i.state in
                   ("pending", "running", "stopping", "shutting-down"))
        count = min(max_count, max(room - used, 0))
    if capacity_code == "InsufficientInstanceCapacity" or count < min_count:
        raise Ec2Error("InsufficientInstanceCapacity",
                       f"We currently do not have sufficient {instance_type} capacity in the Availability Zone "
                       f"you requested ({subnet.zone}). Our system will be working on provisioning additional "
                       f"capacity. You can currently get {instance_type} capacity by not specifying an "
                       f"Availability Zone in your request or choosing {others}.", status=500, fault="capacity")

    reservation_id = new_id("r")
    now, launched = utcnow(), []
    for index in range(count):
        inst = Instance(
            id=new_id("i"), seq=world.next_seq(), reservation_id=reservation_id, image_id=image_id,
            instance_type=instance_type, key_name=key_name, subnet_id=subnet.id, vpc_id=subnet.vpc_id,
            zone=subnet.zone, security_group_ids=group_ids, tags=dict(tags.get("instance", {})),
            client_token=token, launch_index=index, launch_time=now, state="pending", since=world.clock(),
            architecture=image.architecture, root_device=image.root_device,
            private_ip=fixed_ip or world.allocate_private_ip(subnet),
            public_ip=world.allocate_public_ip() if wants_public else None, wants_public_ip=wants_public,
            spot=spot, spot_request_id=new_id("sir")[:12] if spot else None, spot_stoppable=spot_stoppable,
            iam_profile=profile, user_data=user_data, ebs_optimized=p.get("EbsOptimized", False),
            monitoring=(p.get("Monitoring") or {}).get("Enabled", False))
        for device, size, volume_type, delete, iops, encrypted in devices:
            volume = Volume(new_id("vol"), device, size, volume_type, delete, inst.id, subnet.zone, now,
                            dict(tags.get("volume", {})), iops, encrypted)
            world.volumes[volume.id] = volume
            inst.volume_ids.append(volume.id)
        world.instances[inst.id] = inst
        launched.append(inst.id)
    world.reservations[reservation_id] = launched
    if token:
        world.client_tokens[token] = (_fingerprint(api.raw_params), reservation_id)
    return reservation_view(api, reservation_id)


def reservation_view(api, reservation_id, instances=None):
    world = api.world
    members = instances if instances is not None else [world.instances[i] for i in world.reservations[reservation_id]]
    return {"ReservationId": reservation_id, "OwnerId": ACCOUNT_ID, "Groups": [],
            "Instances": [instance_view(api, inst) for inst in members]}


def instance_view(api, inst):
    """An instance as EC2 describes it (the Instance output shape)."""
    world = api.world
    groups = [{"GroupId": g, "GroupName": world.groups[g].name if g in world.groups else ""}
              for g in inst.security_group_ids]
    live = inst.state != "terminated"
    private_dns = ""
    if inst.private_ip:
        suffix = "ec2.internal" if world.region == "us-east-1" else f"{world.region}.compute.internal"
        private_dns = f"ip-{inst.private_ip.replace('.', '-')}.{suffix}"
    view = {
        "InstanceId": inst.id, "ImageId": inst.image_id, "State": _state(inst.state),
        "PrivateDnsName": private_dns, "PublicDnsName": "",
        "StateTransitionReason": inst.transition_reason, "AmiLaunchIndex": inst.launch_index,
        "ProductCodes": [], "InstanceType": inst.instance_type, "LaunchTime": inst.launch_time,
        "Placement": {"AvailabilityZone": inst.zone, "GroupName": "", "Tenancy": "default"},
        "Monitoring": {"State": "enabled" if inst.monitoring else "disabled"},
        "Architecture": inst.architecture, "RootDeviceType": "ebs", "RootDeviceName": inst.root_device,
        "VirtualizationType": "hvm", "Hypervisor": "xen", "ClientToken": inst.client_token or "",
        "Tags": tag_list(inst.tags) if inst.tags else None, "SecurityGroups": groups,
        "SourceDestCheck": True, "EbsOptimized": inst.ebs_optimized, "EnaSupport": True,
        "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
        "CpuOptions": {"CoreCount": max(1, INSTANCE_TYPES.get(inst.instance_type, (2,))[0] // 2),
                       "ThreadsPerCore": 2 if INSTANCE_TYPES.get(inst.instance_type, (2,))[0] > 1 else 1},
        "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                            "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [],
        "NetworkInterfaces": [],
    }
    if inst.key_name:
        view["KeyName"] = inst.key_name
    if inst.state_reason:
        view["StateReason"] = inst.state_reason
    if inst.spot:
        view["InstanceLifecycle"] = "spot"
        view["SpotInstanceRequestId"] = inst.spot_request_id
    if inst.iam_profile:
        view["IamInstanceProfile"] = inst.iam_profile
    if live:
        view["SubnetId"] = inst.subnet_id
        view["VpcId"] = inst.vpc_id
        if inst.private_ip:
            view["PrivateIpAddress"] = inst.private_ip
        if inst.public_ip:
            view["PublicIpAddress"] = inst.public_ip
        for volume_id in inst.volume_ids:
            volume = world.volumes.get(volume_id)
            if volume:
                view["BlockDeviceMappings"].append({"DeviceName": volume.device, "Ebs": {
                    "VolumeId": volume.id, "Status": "attached", "AttachTime": volume.attach_time,
                    "DeleteOnTermination": volume.delete_on_termination}})
        association = {"PublicIp": inst.public_ip, "PublicDnsName": "", "IpOwnerId": "amazon"} \
            if inst.public_ip else None
        view["NetworkInterfaces"].append({
            "NetworkInterfaceId": inst.eni_id, "SubnetId": inst.subnet_id, "VpcId": inst.vpc_id,
            "Description": "", "OwnerId": ACCOUNT_ID, "Status": "in-use", "MacAddress": inst.mac,
            "PrivateIpAddress": inst.private_ip, "PrivateDnsName": private_dns, "SourceDestCheck": True,
            "Groups": groups, "InterfaceType": "interface", "Association": association,
            "Attachment": {"AttachmentId": inst.eni_attachment_id, "DeviceIndex": 0, "Status": "attached",
                           "AttachTime": inst.launch_time, "DeleteOnTermination": True, "NetworkCardIndex": 0},
            "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": inst.private_ip,
                                    "PrivateDnsName": private_dns, "Association": association}],
        })
    return view


def _instance_fields():
    """Filter name -> values of an instance, for DescribeInstances."""
    def one(attr):
        return lambda inst: [getattr(inst, attr)]
    return {
        "instance-id": one("id"),
        "instance-state-name": lambda i: [i.state],
        "instance-state-code": lambda i: [STATE_CODES[i.state]],
        "instance-type": one("instance_type"),
        "image-id": one("image_id"),
        "key-name": one("key_name"),
        "vpc-id": lambda i: [i.vpc_id] if i.state != "terminated" else [],
        "subnet-id": lambda i: [i.subnet_id] if i.state != "terminated" else [],
        "availability-zone": one("zone"),
        "private-ip-address": one("private_ip"),
        "ip-address": one("public_ip"),
        "network-interface.addresses.private-ip-address": one("private_ip"),
        "reservation-id": one("reservation_id"),
        "client-token": one("client_token"),
        "instance-lifecycle": lambda i: ["spot"] if i.spot else [],
        "architecture": one("architecture"),
        "instance.group-id": lambda i: list(i.security_group_ids),
        "group-id": lambda i: list(i.security_group_ids),
        "network-interface.group-id": lambda i: list(i.security_group_ids),
        "iam-instance-profile.arn": lambda i: [i.iam_profile["Arn"]] if i.iam_profile else [],
        "launch-index": lambda i: [i.launch_index],
        "root-device-type": lambda i: ["ebs"],
    }


def _instance_group_names(api):
    world = api.world
    return {"instance.group-name": lambda i: [world.groups[g].name for g in i.security_group_ids
                                             if g in world.groups],
            "group-name": lambda i: [world.groups[g].name for g in i.security_group_ids if g in world.groups]}


@action("DescribeInstances")
def describe_instances(api, p):
    world = api.world
    ids = p.get("InstanceIds") or []
    candidates = world.visible_instances()
    if ids:
        check_ids(ids, "i", {i.id for i in candidates}, "InvalidInstanceID", "instance ID")
        wanted = set(ids)
        candidates = [i for i in candidates if i.id in wanted]
    fields = {**_instance_fields(), **_instance_group_names(api)}
    matched = filters.apply(p.get("Filters"), candidates, fields)
    page, token = paginate(matched, p, "instances", key=lambda i: i.seq, with_ids="instancesSet" if ids else None)
    reservations = []
    for inst in page:
        if reservations and reservations[-1]["ReservationId"] == inst.reservation_id:
            reservations[-1]["Instances"].append(instance_view(api, inst))
        else:
            reservations.append(reservation_view(api, inst.reservation_id, [inst]))
    return {"Reservations": reservations, "NextToken": token}


def _targets(api, p):
    ids = p.get("InstanceIds") or []
    if not ids:
        raise Ec2Error("MissingParameter", "The request must contain the parameter InstanceId")
    check_ids(ids, "i", {i.id for i in api.world.visible_instances()}, "InvalidInstanceID", "instance ID")
    dry_run(p)
    return [api.world.instances[i] for i in dict.fromkeys(ids)]


def _change(inst, previous):
    return {"InstanceId": inst.id, "CurrentState": _state(inst.state), "PreviousState": _state(previous)}


def _reason():
    return f"User initiated ({utcnow().strftime('%Y-%m-%d %H:%M:%S')} GMT)"


@action("TerminateInstances")
def terminate_instances(api, p):
    world = api.world
    changes = []
    for inst in _targets(api, p):
        previous = inst.state
        if previous not in ("shutting-down", "terminated"):
            world.set_state(inst, "shutting-down")
            inst.public_ip = None
            inst.transition_reason = _reason()
        changes.append(_change(inst, previous))
    return {"TerminatingInstances": changes}


@action("StopInstances")
def stop_instances(api, p):
    world = api.world
    targets = _targets(api, p)
    for inst in targets:
        if inst.spot and not inst.spot_stoppable:
            raise Ec2Error("UnsupportedOperation",
                           f"You can't stop the Spot Instance '{inst.id}' because it is associated with a one-time "
                           f"Spot Instance request. You can only stop Spot Instances associated with persistent "
                           f"Spot Instance requests.")
        if inst.state not in ("running", "stopping", "stopped"):
            raise Ec2Error("IncorrectInstanceState",
                           f"This instance '{inst.id}' is not in a state from which it can be stopped.")
    changes = []
    for inst in targets:
        previous = inst.state
        if previous == "running":
            world.set_state(inst, "stopping")
            inst.public_ip = None
            inst.transition_reason = _reason()
        changes.append(_change(inst, previous))
    return {"StoppingInstances": changes}


@action("StartInstances")
def start_instances(api, p):
    world = api.world
    targets = _targets(api, p)
    for inst in targets:
        if inst.state not in ("stopped", "pending", "running"):
            raise Ec2Error("IncorrectInstanceState",
                           f"The instance '{inst.id}' is not in a state from which it can be started.")
    changes = []
    for inst in targets:
        previous = inst.state
        if previous == "stopped":
            world.set_state(inst, "pending")
            inst.boot_generation += 1
            inst.state_reason = None
            inst.transition_reason = ""
            if inst.wants_public_ip:
                inst.public_ip = world.allocate_public_ip()
        changes.append(_change(inst, previous))
    return {"StartingInstances": changes}
