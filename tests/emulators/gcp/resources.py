"""Everything but instances: zones, regions, machineTypes, acceleratorTypes,
zoneOperations, globalOperations, firewalls (insert, get, list, patch,
update, delete), networks, subnetworks, images and projects."""
import re
import zlib

from . import catalog
from .common import (GceError, check_metadata_items, check_name, check_request_id, find, invalid, method,
                     not_found, page, resolve, select)
from .state import Firewall, fingerprint, new_id, rfc3339

CREATED = "2014-05-15T10:00:00.000-07:00"


def _list(world, items, query, kind, rest):
    return page(select(items, query), query, kind, world.link(rest), f"projects/{world.project}/{rest}")


# -- zones and regions -----------------------------------------------------------------

def zone_json(world, zone):
    return {"kind": "compute#zone", "id": str(2000 + world.zones.index(zone)), "creationTimestamp": CREATED,
            "name": zone, "description": zone, "status": "UP", "region": world.link(f"regions/{world.region}"),
            "selfLink": world.zone_link(zone), "availableCpuPlatforms": ["Intel Cascade Lake", "AMD Milan"],
            "supportsPzs": False}


@method("zones.get")
def zones_get(api, params, query, body):
    return zone_json(api.world, params["zone"])


@method("zones.list")
def zones_list(api, params, query, body):
    world = api.world
    return _list(world, [zone_json(world, z) for z in world.zones], query, "compute#zoneList", "zones")


def region_json(world):
    return {"kind": "compute#region", "id": "1000", "creationTimestamp": CREATED, "name": world.region,
            "description": world.region, "status": "UP", "zones": [world.zone_link(z) for z in world.zones],
            "quotas": [], "selfLink": world.link(f"regions/{world.region}"), "supportsPzs": False}


@method("regions.get")
def regions_get(api, params, query, body):
    return region_json(api.world)


@method("regions.list")
def regions_list(api, params, query, body):
    return _list(api.world, [region_json(api.world)], query, "compute#regionList", "regions")


# -- machine and accelerator types -----------------------------------------------------------

def machine_type_json(world, zone, name):
    cpus, memory, accelerators, description = catalog.MACHINE_TYPES[name]
    out = {"kind": "compute#machineType", "id": str(zlib.crc32(name.encode())), "creationTimestamp": CREATED,
           "name": name, "description": description, "guestCpus": cpus, "memoryMb": memory,
           "imageSpaceGb": 0, "maximumPersistentDisks": 128, "maximumPersistentDisksSizeGb": "263168",
           "zone": zone, "selfLink": world.link(f"zones/{zone}/machineTypes/{name}"), "isSharedCpu": False,
           "architecture": "X86_64"}
    if name.startswith("e2-") and cpus == 2 and memory < 8192:
        out["isSharedCpu"] = True
    if accelerators:
        out["accelerators"] = [{"guestAcceleratorType": t, "guestAcceleratorCount": n} for t, n in accelerators]
    return out


@method("machineTypes.get")
def machine_types_get(api, params, query, body):
    world, zone, name = api.world, params["zone"], params["machineType"]
    if name not in catalog.MACHINE_TYPES:
        raise not_found(f"projects/{world.project}/zones/{zone}/machineTypes/{name}")
    return machine_type_json(world, zone, name)


@method("machineTypes.list")
def machine_types_list(api, params, query, body):
    world, zone = api.world, params["zone"]
    return _list(world, [machine_type_json(world, zone, n) for n in catalog.MACHINE_TYPES], query,
                 "compute#machineTypeList", f"zones/{zone}/machineTypes")


def accelerator_json(world, zone, name):
    return {"kind": "compute#acceleratorType", "id": str(zlib.crc32(name.encode())), "name": name,
            "creationTimestamp": CREATED, "description": catalog.ACCELERATOR_TYPES[name], "zone": zone,
            "selfLink": world.link(f"zones/{zone}/acceleratorTypes/{name}"), "maximumCardsPerInstance": 8}


@method("acceleratorTypes.get")
def accelerator_types_get(api, params, query, body):
    world, zone, name = api.world, params["zone"], params["acceleratorType"]
    if name not in catalog.ACCELERATOR_TYPES:
        raise not_found(f"projects/{world.project}/zones/{zone}/acceleratorTypes/{name}")
    return accelerator_json(world, zone, name)


@method("acceleratorTypes.list")
def accelerator_types_list(api, params, query, body):
    world, zone = api.world, params["zone"]
    return _list(world, [accelerator_json(world, zone, n) for n in catalog.ACCELERATOR_TYPES], query,
                 "compute#acceleratorTypeList", f"zones/{zone}/acceleratorTypes")


# -- operations --------------------------------------------------------------------------------

def _operation(world, name, zone):
    op = world.operations.get(name)
    rest = (f"zones/{zone}/" if zone else "global/") + f"operations/{name}"
    if op is None or op.zone != zone:
        raise not_found(f"projects/{world.project}/{rest}")
    return op


def _wait(api, op):
    """Blocks until ``op`` is DONE or the emulated wait deadline passes."""
    world = api.world
    deadline = world.clock() + api.wait_seconds
    world.advance()
    while op.status != "DONE":
        left = deadline - world.clock()
        if left <= 0:
            break
        world.changed.wait(min(left, 0.05))
        world.advance()
    return world.operation_json(op)


@method("zoneOperations.get")
def zone_operations_get(api, params, query, body):
    return api.world.operation_json(_operation(api.world, params["operation"], params["zone"]))


@method("zoneOperations.wait")
def zone_operations_wait(api, params, query, body):
    return _wait(api, _operation(api.world, params["operation"], params["zone"]))


@method("zoneOperations.list")
def zone_operations_list(api, params, query, body):
    world, zone = api.world, params["zone"]
    ops = [world.operation_json(o) for o in world.operations.values() if o.zone == zone]
    return _list(world, ops, query, "compute#operationList", f"zones/{zone}/operations")


@method("globalOperations.get")
def global_operations_get(api, params, query, body):
    return api.world.operation_json(_operation(api.world, params["operation"], None))


@method("globalOperations.wait")
def global_operations_wait(api, params, query, body):
    return _wait(api, _operation(api.world, params["operation"], None))


@method("globalOperations.list")
def global_operations_list(api, params, query, body):
    world = api.world
    ops = [world.operation_json(o) for o in world.operations.values() if o.zone is None]
    return _list(world, ops, query, "compute#operationList", "global/operations")


# -- firewalls ----------------------------------------------------------------------------------

def firewall_json(world, rule):
    return dict(rule.resource, kind="compute#firewall", id=rule.id, name=rule.name, creationTimestamp=rule.created,
                selfLink=world.link(f"global/firewalls/{rule.name}"))


def _check_firewall(world, body):
    name = check_name(body.get("name"), "resource.name")
    network = resolve(world, body.get("network") or "global/networks/default", "networks", "resource.network",
                      allow_bare=True)
    if network != "default":
        raise not_found(f"projects/{world.project}/global/networks/{network}")
    allowed, denied = body.get("allowed") or [], body.get("denied") or []
    if bool(allowed) == bool(denied):
        raise invalid("resource.allowed", "", "Exactly one of allowed or denied must be given.")
    for kind, rules in (("allowed", allowed), ("denied", denied)):
        for i, rule in enumerate(rules):
            if not rule.get("IPProtocol"):
                raise GceError(400, "required", f"Required field 'resource.{kind}[{i}].IPProtocol' not specified")
            for port in rule.get("ports") or []:
                if not re.fullmatch(r"\d{1,5}(-\d{1,5})?", port):
                    raise invalid(f"resource.{kind}[{i}].ports", port, "Ports must be a number or a range a-b.")
    direction = body.get("direction", "INGRESS")
    for i, cidr in enumerate(body.get("sourceRanges") or []):
        if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?", cidr):
            raise invalid(f"resource.sourceRanges[{i}]", cidr, "Must be an IPv4 CIDR range.")
    if direction == "INGRESS" and not (body.get("sourceRanges") or body.get("sourceTags")
                                       or body.get("sourceServiceAccounts")):
        body = dict(body, sourceRanges=["0.0.0.0/0"])  # Compute's default: from anywhere
    return name, dict(body, network=world.link("global/networks/default"), direction=direction,
                      priority=body.get("priority", 1000), disabled=bool(body.get("disabled", False)))


@method("firewalls.insert")
def firewalls_insert(api, params, query, body):
    world = api.world
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return world.operation_json(earlier)
    name, resource = _check_firewall(world, body)
    if name in world.firewalls:
        raise GceError(409, "alreadyExists",
                       f"The resource 'projects/{world.project}/global/firewalls/{name}' already exists")
    rule = Firewall(name=name, id=new_id(), created=rfc3339(), resource=resource)
    world.firewalls[name] = rule
    op = world.new_operation("firewalls.insert", "insert", world.link(f"global/firewalls/{name}"), rule.id,
                             delay=api.faults.operation_delay("firewalls.insert"), request_id=request_id,
                             quick=True)
    return world.operation_json(op)


def _firewall(world, name):
    return find(world.firewalls, name, f"projects/{world.project}/global/firewalls/{name}")


@method("firewalls.get")
def firewalls_get(api, params, query, body):
    return firewall_json(api.world, _firewall(api.world, params["firewall"]))


@method("firewalls.list")
def firewalls_list(api, params, query, body):
    world = api.world
    return _list(world, [firewall_json(world, r) for r in world.firewalls.values()], query,
                 "compute#firewallList", "global/firewalls")


def _replace_firewall(api, params, query, resource, method_name):
    world = api.world
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return world.operation_json(earlier)
    rule = _firewall(world, params["firewall"])
    if resource.get("name", rule.name) != rule.name:
        raise invalid("resource.name", resource["name"], f"Must be the firewall's name '{rule.name}'.")
    _, checked = _check_firewall(world, dict(resource, name=rule.name))
    rule.resource = checked
    op = world.new_operation(method_name, method_name.split(".")[1], world.link(f"global/firewalls/{rule.name}"),
                             rule.id, delay=api.faults.operation_delay(method_name), request_id=request_id,
                             quick=True)
    return world.operation_json(op)


@method("firewalls.patch")
def firewalls_patch(api, params, query, body):
    """JSON merge patch (RFC 7396) of the rule: given fields replace the
    rule's, null removes them."""
    current = dict(_firewall(api.world, params["firewall"]).resource)
    for key, value in body.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    if "sourceRanges" in body and body["sourceRanges"] is not None and not body["sourceRanges"]:
        current.pop("sourceRanges")
    return _replace_firewall(api, params, query, current, "firewalls.patch")


@method("firewalls.update")
def firewalls_update(api, params, query, body):
    return _replace_firewall(api, params, query, body, "firewalls.update")


@method("firewalls.delete")
def firewalls_delete(api, params, query, body):
    world = api.world
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return world.operation_json(earlier)
    rule = _firewall(world, params["firewall"])
    del world.firewalls[rule.name]
    op = world.new_operation("firewalls.delete", "delete", world.link(f"global/firewalls/{rule.name}"), rule.id,
                             delay=api.faults.operation_delay("firewalls.delete"), request_id=request_id,
                             quick=True)
    return world.operation_json(op)


# -- networks and subnetworks --------------------------------------------------------------------

def network_json(world):
    return {"kind": "compute#network", "id": "3000", "creationTimestamp": CREATED, "name": "default",
            "description": "Default network for the project", "autoCreateSubnetworks": True,
            "subnetworks": [world.link(f"regions/{world.region}/subnetworks/default")],
            "routingConfig": {"routingMode": "REGIONAL"}, "selfLink": world.link("global/networks/default"),
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL", "mtu": 1460}


def subnetwork_json(world):
    return {"kind": "compute#subnetwork", "id": "3001", "creationTimestamp": CREATED, "name": "default",
            "network": world.link("global/networks/default"), "ipCidrRange": "127.79.0.0/17",
            "gatewayAddress": "127.79.0.1", "region": world.link(f"regions/{world.region}"),
            "selfLink": world.link(f"regions/{world.region}/subnetworks/default"), "privateIpGoogleAccess": False,
            "fingerprint": fingerprint("default-subnet"), "stackType": "IPV4_ONLY", "purpose": "PRIVATE"}


@method("networks.get")
def networks_get(api, params, query, body):
    world = api.world
    if params["network"] != "default":
        raise not_found(f"projects/{world.project}/global/networks/{params['network']}")
    return network_json(world)


@method("networks.list")
def networks_list(api, params, query, body):
    return _list(api.world, [network_json(api.world)], query, "compute#networkList", "global/networks")


@method("subnetworks.get")
def subnetworks_get(api, params, query, body):
    world = api.world
    if params["subnetwork"] != "default":
        raise not_found(f"projects/{world.project}/regions/{world.region}/subnetworks/{params['subnetwork']}")
    return subnetwork_json(world)


@method("subnetworks.list")
def subnetworks_list(api, params, query, body):
    world = api.world
    return _list(world, [subnetwork_json(world)], query, "compute#subnetworkList",
                 f"regions/{world.region}/subnetworks")


# -- images (public image projects) ----------------------------------------------------------------

def image_json(world, entry):
    project, name, family, description, architecture, size = entry
    newest = max((e for e in catalog.IMAGES if e[2] == family), key=lambda e: e[1])
    out = {"kind": "compute#image", "id": str(zlib.crc32(name.encode())), "creationTimestamp": CREATED,
           "name": name, "description": description, "family": family, "sourceType": "RAW", "status": "READY",
           "archiveSizeBytes": "1000000000", "diskSizeGb": str(size), "architecture": architecture,
           "selfLink": f"{world.base_url}/compute/v1/projects/{project}/global/images/{name}",
           "labelFingerprint": fingerprint([]), "storageLocations": ["us", "eu", "asia"]}
    if newest[1] != name:
        out["deprecated"] = {"state": "DEPRECATED", "replacement": image_json(world, newest)["selfLink"]}
    return out


@method("images.get")
def images_get(api, params, query, body):
    for entry in catalog.IMAGES:
        if entry[0] == params["project"] and entry[1] == params["image"]:
            return image_json(api.world, entry)
    raise not_found(f"projects/{params['project']}/global/images/{params['image']}")


@method("images.getFromFamily")
def images_from_family(api, params, query, body):
    entries = [e for e in catalog.IMAGES if e[0] == params["project"] and e[2] == params["family"]]
    if not entries:
        raise not_found(f"projects/{params['project']}/global/images/family/{params['family']}")
    return image_json(api.world, max(entries, key=lambda e: e[1]))


@method("images.list")
def images_list(api, params, query, body):
    world = api.world
    entries = [image_json(world, e) for e in catalog.IMAGES if e[0] == params["project"]]
    return page(select(entries, query), query, "compute#imageList",
                f"{world.base_url}/compute/v1/projects/{params['project']}/global/images",
                f"projects/{params['project']}/global/images")


# -- the project --------------------------------------------------------------------------------------

def project_json(world):
    metadata = {"kind": "compute#metadata", "fingerprint": fingerprint(
        [(i["key"], i.get("value")) for i in world.project_metadata])}
    if world.project_metadata:
        metadata["items"] = [dict(i) for i in world.project_metadata]
    return {"kind": "compute#project", "id": "4000", "creationTimestamp": CREATED, "name": world.project,
            "commonInstanceMetadata": metadata, "quotas": [], "selfLink": world.link("")[:-1],
            "defaultServiceAccount": "123456789012-compute@developer.gserviceaccount.com",
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS", "defaultNetworkTier": "PREMIUM"}


@method("projects.get")
def projects_get(api, params, query, body):
    return project_json(api.world)


@method("projects.setCommonInstanceMetadata")
def projects_set_metadata(api, params, query, body):
    world = api.world
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return world.operation_json(earlier)
    items = check_metadata_items(body.get("items"), "resource")
    current = project_json(world)["commonInstanceMetadata"]["fingerprint"]
    if body.get("fingerprint") != current:
        raise GceError(412, "conditionNotMet", "Supplied fingerprint does not match current metadata "
                                               "fingerprint.", location="If-Match", location_type="header")
    world.project_metadata = items
    world.project_metadata_calls += 1
    if any(i["key"] in ("ssh-keys", "sshKeys") for i in items):
        world.project_ssh_keys_set = True
    op = world.new_operation("projects.setCommonInstanceMetadata", "setMetadata", world.link("")[:-1], "4000",
                             request_id=request_id, quick=True)
    return world.operation_json(op)
