"""EBS volumes: CreateVolume, DescribeVolumes, AttachVolume, DetachVolume,
DeleteVolume, with EC2's states and errors.

A volume is ``creating`` for ``CREATE_SECONDS``, then ``available``; an
attachment is ``attaching`` for ``ATTACH_SECONDS``, then ``attached`` (the
volume ``in-use``); a detach is ``detaching`` for as long, then the volume is
``available`` again. A volume attaches only to an instance of its own zone
(``InvalidVolume.ZoneMismatch``), only when ``available`` (``VolumeInUse``,
``IncorrectState``) and at a free device name. When its instance is
terminated the volume is detached (it was attached with
DeleteOnTermination false, as AttachVolume does).

With a ``backing`` (``LoopBacking``), an attached volume is a real block
device on the instance: a sparse file behind a loop device, linked into the
instance's own ``/dev/disk/by-id`` under the name a Nitro instance gives it.
"""
import os
import shutil
import subprocess
import time

from . import filters
from .common import action, check_ids, dry_run, paginate, tag_list, tag_specifications
from .errors import Ec2Error
from .state import new_id, utcnow

CREATE_SECONDS = 0.3
ATTACH_SECONDS = 0.3
TYPES = {"gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"}


class EbsVolume:
    def __init__(self, vid, zone, size, vtype, tags, token):
        self.id, self.zone, self.size, self.type, self.tags = vid, zone, size, vtype, tags
        self.token = token
        self.state = "creating"
        self.since = time.monotonic()
        self.create_time = utcnow()
        self.instance_id = None
        self.device = None
        self.attach_state = None
        self.attach_since = 0.0
        self.attach_time = None
        self.seq = 0


def _volumes(world):
    if not hasattr(world, "ebs"):
        world.ebs = {}
        world.ebs_tokens = {}
        world.ebs_seq = 0
    return world.ebs


def _backing(world):
    return getattr(world, "volume_backing", None)


def settle(world):
    """Applies the transitions whose time has come."""
    now = time.monotonic()
    for vol in _volumes(world).values():
        if vol.state == "creating" and now - vol.since >= CREATE_SECONDS:
            vol.state = "available"
        if vol.instance_id is None:
            continue
        inst = world.instances.get(vol.instance_id)
        if inst is None or inst.gone or inst.state == "terminated":
            _detached(world, vol)
        elif vol.attach_state == "attaching" and now - vol.attach_since >= ATTACH_SECONDS:
            vol.attach_state = "attached"
            if _backing(world) is not None and inst.host is not None:
                _backing(world).link(vol, inst.host.workdir)
        elif vol.attach_state == "detaching" and now - vol.attach_since >= ATTACH_SECONDS:
            _detached(world, vol)


def _detached(world, vol):
    inst = world.instances.get(vol.instance_id)
    if _backing(world) is not None and inst is not None and inst.host is not None:
        _backing(world).unlink(vol, inst.host.workdir)
    vol.instance_id = vol.device = vol.attach_state = vol.attach_time = None
    vol.state = "available"


def _attachment(vol):
    return {"AttachTime": vol.attach_time, "Device": vol.device, "InstanceId": vol.instance_id,
            "State": vol.attach_state, "VolumeId": vol.id, "DeleteOnTermination": False}


def _view(vol):
    state = "in-use" if vol.instance_id else vol.state
    return {"VolumeId": vol.id, "AvailabilityZone": vol.zone, "Size": vol.size, "VolumeType": vol.type,
            "State": state, "CreateTime": vol.create_time, "Encrypted": False, "SnapshotId": "",
            "Tags": tag_list(vol.tags) if vol.tags else None,
            "Attachments": [_attachment(vol)] if vol.instance_id else []}


def _get(world, vid):
    check_ids([vid], "vol", set(_volumes(world)), "InvalidVolume", "volume")
    return _volumes(world)[vid]


@action("CreateVolume")
def create_volume(api, p):
    world = api.world
    settle(world)
    token = p.get("ClientToken")
    if token and token in world.ebs_tokens:
        return _view(_volumes(world)[world.ebs_tokens[token]])
    zone = p.get("AvailabilityZone")
    if zone not in {z for z, _ in world.zones()}:
        raise Ec2Error("InvalidParameterValue", f"Invalid availability zone: [{zone}]")
    vtype = p.get("VolumeType") or "gp2"
    if vtype not in TYPES:
        raise Ec2Error("InvalidParameterValue", f"The parameter volumeType must be one of {sorted(TYPES)}")
    size = p.get("Size")
    if size is None or size < 1 or size > 16384:
        raise Ec2Error("InvalidParameterValue", f"Volume of {size}GiB is out of range (1-16384)")
    tags = tag_specifications(p.get("TagSpecifications"), {"volume"}).get("volume", {})
    dry_run(p)
    vol = EbsVolume(new_id("vol"), zone, size, vtype, tags, token)
    world.ebs_seq += 1
    vol.seq = world.ebs_seq
    _volumes(world)[vol.id] = vol
    if token:
        world.ebs_tokens[token] = vol.id
    return _view(vol)


@action("DescribeVolumes")
def describe_volumes(api, p):
    world = api.world
    settle(world)
    items = list(_volumes(world).values())
    ids = p.get("VolumeIds") or []
    if ids:
        check_ids(ids, "vol", {v.id for v in items}, "InvalidVolume", "volume")
        items = [v for v in items if v.id in set(ids)]
    fields = {"volume-id": lambda v: [v.id], "availability-zone": lambda v: [v.zone],
              "status": lambda v: ["in-use" if v.instance_id else v.state],
              "attachment.instance-id": lambda v: [v.instance_id],
              "volume-type": lambda v: [v.type], "size": lambda v: [v.size]}
    matched = filters.apply(p.get("Filters"), items, fields)
    page, token = paginate(matched, p, "volumes", key=lambda v: v.seq,
                           with_ids="VolumeId" if ids else None)
    return {"Volumes": [_view(v) for v in page], "NextToken": token}


@action("AttachVolume")
def attach_volume(api, p):
    world = api.world
    settle(world)
    vol = _get(world, p["VolumeId"])
    check_ids([p["InstanceId"]], "i", {i.id for i in world.visible_instances()}, "InvalidInstanceID",
              "instance ID")
    inst = world.instances[p["InstanceId"]]
    device = p["Device"]
    if inst.state not in ("running", "stopped"):
        raise Ec2Error("IncorrectState", f"Instance '{inst.id}' is not 'running'.")
    if vol.zone != inst.zone:
        raise Ec2Error("InvalidVolume.ZoneMismatch",
                       f"The volume '{vol.id}' is not in the same availability zone as instance '{inst.id}'")
    if vol.instance_id:
        raise Ec2Error("VolumeInUse", f"{vol.id} is already attached to an instance")
    if vol.state != "available":
        raise Ec2Error("IncorrectState", f"The volume '{vol.id}' is not 'available'.")
    if not device.startswith("/dev/"):
        raise Ec2Error("InvalidParameterValue", f"Value ({device}) for parameter device is invalid.")
    taken = {v.device for v in _volumes(world).values() if v.instance_id == inst.id}
    taken.add(inst.root_device)
    if device in taken:
        raise Ec2Error("InvalidParameterValue", f"Attachment point {device} is already in use")
    dry_run(p)
    vol.instance_id, vol.device, vol.attach_state = inst.id, device, "attaching"
    vol.attach_since, vol.attach_time = time.monotonic(), utcnow()
    return _attachment(vol)


@action("DetachVolume")
def detach_volume(api, p):
    world = api.world
    settle(world)
    vol = _get(world, p["VolumeId"])
    if vol.instance_id is None:
        raise Ec2Error("IncorrectState", f"Volume '{vol.id}' is in the 'available' state.")
    if p.get("InstanceId") and p["InstanceId"] != vol.instance_id:
        raise Ec2Error("InvalidAttachment.NotFound",
                       f"The volume '{vol.id}' is not attached to instance '{p['InstanceId']}'")
    dry_run(p)
    if vol.attach_state != "detaching":
        vol.attach_state, vol.attach_since = "detaching", time.monotonic()
    return _attachment(vol)


@action("DeleteVolume")
def delete_volume(api, p):
    world = api.world
    settle(world)
    vol = _get(world, p["VolumeId"])
    if vol.instance_id:
        raise Ec2Error("VolumeInUse", f"Volume {vol.id} is currently attached to {vol.instance_id}")
    if vol.state != "available":
        raise Ec2Error("IncorrectState", f"The volume '{vol.id}' is not 'available'.")
    dry_run(p)
    del _volumes(world)[vol.id]
    if _backing(world) is not None:
        _backing(world).delete(vol)
    return {}


def volumes_of(world):
    """Test view: every volume, settled, as DescribeVolumes shows it."""
    with world.lock:
        settle(world)
        return [_view(v) for v in _volumes(world).values()]


class LoopBacking:
    """Volumes as sparse files behind loop devices, linked into each
    instance's ``<host workdir>/by-id`` (bound over ``/dev/disk/by-id`` in the
    instance's mount namespace, see ``SshHosts(namespaced=True)``)."""

    def __init__(self, workdir, name_of=None):
        self.workdir = os.path.join(workdir, "ebs")
        os.makedirs(self.workdir, exist_ok=True)
        self.loops = {}  # volume id -> loop device
        # The by-id name of a volume: a Nitro instance's by default.
        self.name_of = name_of or (lambda vol: "nvme-Amazon_Elastic_Block_Store_" + vol.id.replace("-", ""))

    def _device(self, vol):
        if vol.id not in self.loops:
            image = os.path.join(self.workdir, vol.id + ".img")
            with open(image, "wb") as f:
                f.truncate(vol.size * 1024 ** 3)
            self.loops[vol.id] = subprocess.run(["losetup", "-f", "--show", image], check=True,
                                                capture_output=True, text=True).stdout.strip()
        return self.loops[vol.id]

    def link(self, vol, host_dir):
        by_id = os.path.join(host_dir, "by-id")
        os.makedirs(by_id, exist_ok=True)
        path = os.path.join(by_id, self.name_of(vol))
        if os.path.lexists(path):
            os.remove(path)
        os.symlink(self._device(vol), path)

    def unlink(self, vol, host_dir):
        path = os.path.join(host_dir, "by-id", self.name_of(vol))
        if os.path.lexists(path):
            os.remove(path)

    def delete(self, vol):
        loop = self.loops.pop(vol.id, None)
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        image = os.path.join(self.workdir, vol.id + ".img")
        if os.path.exists(image):
            os.remove(image)

    def close(self):
        for loop in self.loops.values():
            subprocess.run(["losetup", "-d", loop], check=False)
        self.loops.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
