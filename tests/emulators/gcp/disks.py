"""Zonal persistent disks: disks.insert/get/list/delete and
instances.attachDisk/detachDisk, each a zone operation, as Compute runs them.

A disk lives in one zone; it attaches (read-write) to one instance of its
own zone: attaching it to an instance of another zone is 400 (the source
must be in the instance's zone), to a second instance 400 (already in use
by another instance), and deleting an attached disk 400 (in use). Labels go
on at insert. Attached data disks are kept here (``world.pd``); the
instance's own JSON lists only its boot disks.
"""
from .common import check_labels, check_name, check_request_id, find, method, page, resolve, select
from .errors import GceError, invalid
from .state import new_id, rfc3339

TYPES = {"pd-standard", "pd-balanced", "pd-ssd", "pd-extreme"}


class Disk:
    def __init__(self, name, zone, size_gb, dtype, labels):
        self.name, self.zone, self.size_gb, self.type, self.labels = name, zone, size_gb, dtype, labels
        self.id = new_id()
        self.created = rfc3339()
        self.users = []        # instance links
        self.device_name = None


def disks(world):
    if not hasattr(world, "pd"):
        world.pd = {}
    return world.pd


def disk_json(world, d):
    out = {"kind": "compute#disk", "id": d.id, "name": d.name, "creationTimestamp": d.created,
           "sizeGb": str(d.size_gb), "zone": world.zone_link(d.zone), "status": "READY",
           "selfLink": world.link(f"zones/{d.zone}/disks/{d.name}"),
           "type": world.link(f"zones/{d.zone}/diskTypes/{d.type}"),
           "labelFingerprint": "42WmSpB8rSM="}
    if d.labels:
        out["labels"] = dict(d.labels)
    if d.users:
        out["users"] = list(d.users)
    return out


def _disk(world, zone, name):
    return find(disks(world), (zone, name), f"projects/{world.project}/zones/{zone}/disks/{name}")


def _done_op(api, method_name, op_type, link, target_id, zone, request_id):
    earlier = api.world.by_request_id(request_id)
    if earlier is not None:
        return api.world.operation_json(earlier)
    op = api.world.new_operation(method_name, op_type, link, target_id, zone=zone,
                                 delay=api.faults.operation_delay(method_name), request_id=request_id,
                                 quick=True)
    return api.world.operation_json(op)


@method("disks.insert")
def insert(api, params, query, body):
    world, zone = api.world, params["zone"]
    request_id = check_request_id(query)
    if request_id and world.by_request_id(request_id) is not None:
        return world.operation_json(world.by_request_id(request_id))
    name = check_name(body.get("name"), "resource.name")
    dtype = "pd-standard"
    if body.get("type"):
        dtype = resolve(world, body["type"], "diskTypes", "resource.type", zone=zone)
        if dtype not in TYPES:
            raise invalid("resource.type", body["type"], "Invalid value for field 'resource.type'.")
    size = int(body.get("sizeGb") or 10)
    if size < 1 or size > 65536:
        raise invalid("resource.sizeGb", body.get("sizeGb"), "Disk size out of range.")
    labels = body.get("labels") or {}
    check_labels(labels, "resource.labels")
    if (zone, name) in disks(world):
        raise GceError(409, "alreadyExists",
                       f"The resource 'projects/{world.project}/zones/{zone}/disks/{name}' already exists")
    d = Disk(name, zone, size, dtype, labels)
    disks(world)[(zone, name)] = d
    return _done_op(api, "disks.insert", "insert", world.link(f"zones/{zone}/disks/{name}"), d.id, zone,
                    request_id)


@method("disks.get")
def get(api, params, query, body):
    return disk_json(api.world, _disk(api.world, params["zone"], params["disk"]))


@method("disks.list")
def list_(api, params, query, body):
    world, zone = api.world, params["zone"]
    items = select([disk_json(world, d) for (z, _), d in sorted(disks(world).items()) if z == zone], query)
    return page(items, query, "compute#diskList", world.link(f"zones/{zone}/disks"),
                f"projects/{world.project}/zones/{zone}/disks")


@method("disks.delete")
def delete(api, params, query, body):
    world, zone = api.world, params["zone"]
    request_id = check_request_id(query)
    d = _disk(world, zone, params["disk"])
    if d.users:
        raise GceError(400, "resourceInUseByAnotherResource",
                       f"The disk resource 'projects/{world.project}/zones/{zone}/disks/{d.name}' is already "
                       f"being used by '{d.users[0]}'")
    del disks(world)[(zone, d.name)]
    return _done_op(api, "disks.delete", "delete", world.link(f"zones/{zone}/disks/{d.name}"), d.id, zone,
                    request_id)


def _instance(world, zone, name):
    return find(world.instances, (zone, name), f"projects/{world.project}/zones/{zone}/instances/{name}")


@method("instances.attachDisk")
def attach_disk(api, params, query, body):
    world, zone = api.world, params["zone"]
    request_id = check_request_id(query)
    inst = _instance(world, zone, params["instance"])
    source = body.get("source") or ""
    rest = source.split("/compute/v1/")[-1]
    parts = rest.split("/")
    if len(parts) < 4 or parts[-2] != "disks" or "zones" not in parts:
        raise invalid("resource.source", source, "Must be a URL to a valid Compute resource of the correct type.")
    disk_zone = parts[parts.index("zones") + 1]
    if disk_zone != zone:
        raise invalid("resource.source", source,
                      f"Disk must be in the same zone as the instance: the disk is in '{disk_zone}', "
                      f"the instance in '{zone}'.")
    d = _disk(world, disk_zone, parts[-1])
    link = world.instance_link(inst)
    if d.users and link not in d.users:
        raise GceError(400, "resourceInUseByAnotherResource",
                       f"The disk resource '{world.link(f'zones/{zone}/disks/{d.name}')}' is already being "
                       f"used by '{d.users[0]}'")
    d.device_name = body.get("deviceName") or d.name
    if link not in d.users:
        d.users.append(link)
    return _done_op(api, "instances.attachDisk", "attachDisk", link, inst.id, zone, request_id)


@method("instances.detachDisk")
def detach_disk(api, params, query, body):
    world, zone = api.world, params["zone"]
    request_id = check_request_id(query)
    inst = _instance(world, zone, params["instance"])
    link = world.instance_link(inst)
    name = query.get("deviceName")
    for d in disks(world).values():
        if link in d.users and d.device_name == name:
            d.users.remove(link)
            return _done_op(api, "instances.detachDisk", "detachDisk", link, inst.id, zone, request_id)
    raise invalid("deviceName", name, f"No attached disk found with device name '{name}'")


def disks_of(world):
    """Test view: every disk."""
    with world.lock:
        return [disk_json(world, d) for d in disks(world).values()]
