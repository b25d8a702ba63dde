"""instances.*: insert, bulkInsert, get, list, aggregatedList, delete, stop,
start, setLabels, setMetadata, with Compute's rules and error codes."""
import re

from . import catalog
from .common import (GceError, check_labels, check_metadata_items, check_name, check_request_id, find,
                     invalid, method, not_found, page, relative, resolve, select)
from .errors import required
from .state import Instance, fingerprint, new_id, rfc3339

STOCKOUT_MESSAGE = ("The zone 'projects/{project}/zones/{zone}' does not have enough resources available to "
                    "fulfill the request.  {tail}")
MAX_BULK = 1000  # instances per bulkInsert request, as on Compute
GPU_METRICS = {"nvidia-tesla-a100": "NVIDIA_A100_GPUS", "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
               "nvidia-tesla-v100": "NVIDIA_V100_GPUS"}


# -- the JSON of an instance -------------------------------------------------------

def _disks_json(world, inst):
    out = []
    for index, disk in enumerate(inst.resource.get("disks") or []):
        params = disk.get("initializeParams") or {}
        name = params.get("diskName") or (inst.name if index == 0 else f"{inst.name}-{index}")
        out.append({
            "kind": "compute#attachedDisk", "type": disk.get("type", "PERSISTENT"),
            "mode": disk.get("mode", "READ_WRITE"),
            "source": disk.get("source") or world.link(f"zones/{inst.zone}/disks/{name}"),
            "deviceName": disk.get("deviceName") or (f"persistent-disk-{index}"),
            "index": index, "boot": bool(disk.get("boot", index == 0)),
            "autoDelete": bool(disk.get("autoDelete", False)), "interface": disk.get("interface", "SCSI"),
            "diskSizeGb": str(params.get("diskSizeGb") or disk.get("diskSizeGb") or 10),
            "architecture": "X86_64",
        })
    return out


def _interfaces_json(world, inst):
    out = []
    for index, nic in enumerate(inst.resource.get("networkInterfaces") or []):
        entry = {"kind": "compute#networkInterface", "network": world.link("global/networks/default"),
                 "subnetwork": world.link(f"regions/{world.region}/subnetworks/default"),
                 "networkIP": inst.network_ip, "name": f"nic{index}", "stackType": "IPV4_ONLY",
                 "fingerprint": fingerprint([inst.name, index])}
        configs = []
        for config in nic.get("accessConfigs") or []:
            configs.append({"kind": "compute#accessConfig", "type": config.get("type", "ONE_TO_ONE_NAT"),
                            "name": config.get("name", "External NAT"), "natIP": inst.nat_ip,
                            "networkTier": config.get("networkTier", "PREMIUM")})
        if configs:
            entry["accessConfigs"] = configs
        out.append(entry)
    return out


def instance_json(world, inst):
    r = inst.resource
    out = {
        "kind": "compute#instance", "id": inst.id, "creationTimestamp": inst.created, "name": inst.name,
        "tags": {"fingerprint": fingerprint((r.get("tags") or {}).get("items") or [])},
        "machineType": world.link(f"zones/{inst.zone}/machineTypes/{inst.machine_type}"),
        "status": inst.status, "zone": world.zone_link(inst.zone), "canIpForward": bool(r.get("canIpForward")),
        "networkInterfaces": _interfaces_json(world, inst), "disks": _disks_json(world, inst),
        "metadata": {"kind": "compute#metadata", "fingerprint": inst.metadata_fingerprint},
        "serviceAccounts": r.get("serviceAccounts") or [],
        "selfLink": world.instance_link(inst),
        "scheduling": dict({"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False,
                            "provisioningModel": "STANDARD"}, **(r.get("scheduling") or {})),
        "cpuPlatform": "Intel Cascade Lake", "labelFingerprint": inst.label_fingerprint,
        "startRestricted": False, "deletionProtection": False, "fingerprint": fingerprint([inst.id]),
        "satisfiesPzi": False,
    }
    for key in ("description", "hostname", "minCpuPlatform", "shieldedInstanceConfig"):
        if r.get(key) is not None:
            out[key] = r[key]
    if (r.get("tags") or {}).get("items"):
        out["tags"]["items"] = list(r["tags"]["items"])
    if inst.metadata_items:
        out["metadata"]["items"] = [dict(i) for i in inst.metadata_items]
    if inst.labels:
        out["labels"] = dict(inst.labels)
    accelerators = _accelerators(world, inst.zone, inst.machine_type, r)
    if accelerators:
        out["guestAccelerators"] = [{"acceleratorType": world.link(f"zones/{inst.zone}/acceleratorTypes/{t}"),
                                     "acceleratorCount": n} for t, n in accelerators]
    if inst.last_start:
        out["lastStartTimestamp"] = inst.last_start
    if inst.last_stop:
        out["lastStopTimestamp"] = inst.last_stop
    return out


def _accelerators(world, zone, machine_type, resource, field="resource.guestAccelerators"):
    builtin = catalog.MACHINE_TYPES[machine_type][2]
    asked = []
    for i, entry in enumerate(resource.get("guestAccelerators") or []):
        name = resolve(world, entry.get("acceleratorType", ""), "acceleratorTypes",
                       f"{field}[{i}].acceleratorType", zone=zone)
        if name not in catalog.ACCELERATOR_TYPES:
            raise not_found(f"projects/{world.project}/zones/{zone}/acceleratorTypes/{name}")
        asked.append((name, int(entry.get("acceleratorCount", 1))))
    if asked and builtin:
        raise invalid(field, "", f"Machine type {machine_type} comes with its accelerators; "
                                 "guestAccelerators must not be given.")
    return list(builtin) or asked


# -- checks of what is to be created --------------------------------------------------

def _image_exists(world, link, field):
    rest = relative(link, world.base_url)
    family = re.fullmatch(r"projects/([^/]+)/global/images/family/([^/]+)", rest)
    if family and any(p == family.group(1) and f == family.group(2) for p, _, f, *_ in catalog.IMAGES):
        return
    named = re.fullmatch(r"projects/([^/]+)/global/images/([^/]+)", rest)
    if named and any(p == named.group(1) and n == named.group(2) for p, n, *_ in catalog.IMAGES):
        return
    if not family and not named and not rest.startswith("projects/"):
        raise invalid(field, link, "Must be a URL or a partial URL 'projects/PROJECT/global/images/...'.")
    raise not_found(rest)


def _check_disks(world, zone, disks, field):
    if not disks:
        raise invalid(field, "", "Boot disk must be specified.")
    boots = [d for i, d in enumerate(disks) if d.get("boot", i == 0)]
    if len(boots) != 1:
        raise invalid(field, "", "Exactly one boot disk must be specified.")
    for i, disk in enumerate(disks):
        params = disk.get("initializeParams") or {}
        if params.get("sourceImage"):
            _image_exists(world, params["sourceImage"], f"{field}[{i}].initializeParams.sourceImage")
        elif disk.get("boot", i == 0) and not disk.get("source"):
            raise invalid(f"{field}[{i}]", "", "The boot disk needs initializeParams.sourceImage or a source.")
        if params.get("diskType"):
            resolve(world, params["diskType"], "diskTypes", f"{field}[{i}].initializeParams.diskType",
                    zone=zone, allow_bare=False)


def _check_interfaces(world, nics, field):
    if not nics:
        raise invalid(field, "", "At least one network interface is required.")
    if len(nics) > 1:
        raise invalid(field, "", "Only the default network is emulated: give one network interface.")
    nic = nics[0]
    if nic.get("network"):
        name = resolve(world, nic["network"], "networks", f"{field}[0].network", allow_bare=True)
        if name != "default":
            raise not_found(f"projects/{world.project}/global/networks/{name}")
    if nic.get("subnetwork"):
        name = resolve(world, nic["subnetwork"], "subnetworks", f"{field}[0].subnetwork", region=world.region)
        if name != "default":
            raise not_found(f"projects/{world.project}/regions/{world.region}/subnetworks/{name}")
    for i, config in enumerate(nic.get("accessConfigs") or []):
        if config.get("type", "ONE_TO_ONE_NAT") != "ONE_TO_ONE_NAT":
            raise invalid(f"{field}[0].accessConfigs[{i}].type", config.get("type"),
                          "Only ONE_TO_ONE_NAT is emulated.")
        if config.get("natIP"):
            raise invalid(f"{field}[0].accessConfigs[{i}].natIP", config["natIP"],
                          "Reserved external addresses are not emulated.")
    return bool(nic.get("accessConfigs"))


def _check_properties(world, zone, props, field, machine_type):
    """Checks disks, network, labels, metadata and accelerators of an
    Instance or InstanceProperties; returns (labels, metadata items, wants_nat)."""
    _check_disks(world, zone, props.get("disks"), f"{field}.disks")
    wants_nat = _check_interfaces(world, props.get("networkInterfaces"), f"{field}.networkInterfaces")
    labels = check_labels(props.get("labels"), f"{field}.labels")
    items = check_metadata_items((props.get("metadata") or {}).get("items"), f"{field}.metadata")
    _accelerators(world, zone, machine_type, props, f"{field}.guestAccelerators")
    return labels, items, wants_nat


def _machine_type(world, zone, value, field):
    if not value:
        raise invalid(field, "", "Machine type must be specified.")
    name = resolve(world, value, "machineTypes", field, zone=zone)
    if name not in catalog.MACHINE_TYPES:
        raise not_found(f"projects/{world.project}/zones/{zone}/machineTypes/{name}")
    return name


# -- capacity, quota and injected operation errors ----------------------------------------

def _needs(machine_type, resource, count):
    cpus, _, builtin, _ = catalog.MACHINE_TYPES[machine_type]
    needs = {"CPUS": cpus * count, "INSTANCES": count}
    accelerators = list(builtin)
    for entry in resource.get("guestAccelerators") or []:
        accelerators.append((entry.get("acceleratorType", "").rsplit("/", 1)[-1],
                             int(entry.get("acceleratorCount", 1))))
    for name, n in accelerators:
        metric = GPU_METRICS.get(name)
        if metric:
            needs[metric] = needs.get(metric, 0) + n * count
    return needs


def occupying(world, zone=None):
    """Instances that hold capacity and quota: not TERMINATED, and not
    about to vanish with a failed insert."""
    return [i for i in world.live(zone) if i.status != "TERMINATED" and not i.doomed]


def _usage(world):
    used = {}
    for inst in occupying(world):
        for metric, n in _needs(inst.machine_type, inst.resource, 1).items():
            used[metric] = used.get(metric, 0) + n
    return used


def _quota_problem(api, machine_type, resource, count):
    """(metric, limit) of the first regional quota the request would exceed, or None."""
    limits, _ = api.faults.quota()
    used = _usage(api.world)
    for metric, need in _needs(machine_type, resource, count).items():
        if metric in limits and used.get(metric, 0) + need > limits[metric]:
            return metric, limits[metric]
    return None


def quota_message(world, metric, limit):
    return f"Quota '{metric}' exceeded.  Limit: {float(limit)} in region {world.region}."


def _quota_details(world, metric, limit):
    return [{"quotaInfo": {"metricName": f"compute.googleapis.com/{metric.lower()}",
                           "limitName": f"{metric}-per-project-region", "dimensions": {"region": world.region},
                           "limit": float(limit)}}]


def check_sync_quota(api, machine_type, resource, count):
    problem = _quota_problem(api, machine_type, resource, count)
    if problem and api.faults.quota()[1] == "sync":
        raise GceError(403, "quotaExceeded", quota_message(api.world, *problem), fault="quota")


def stockout_error(world, zone, code, machine_type):
    """(code, message, http status, details) of a stockout in ``zone``."""
    if code == "ZONE_RESOURCE_POOL_EXHAUSTED":
        tail = "Try a different zone, or try again later."
        return code, STOCKOUT_MESSAGE.format(project=world.project, zone=zone, tail=tail), 503, None
    tail = "'(resource type:compute)'."
    message = STOCKOUT_MESSAGE.format(project=world.project, zone=zone, tail=tail)
    others = [z for z in world.zones if z != zone and world.stockout_of(z) is None]
    details = [
        {"errorInfo": {"reason": "resource_availability", "domain": "compute.googleapis.com",
                       "metadatas": {"zone": zone, "vmType": machine_type, "zonesAvailable": ",".join(others)}}},
        {"help": {"links": [{"description": "Troubleshooting documentation",
                             "url": "https://cloud.google.com/compute/docs/resource-error"}]}},
        {"localizedMessage": {"locale": "en-US", "message": message}},
    ]
    return code, message, 503, details


def operation_failure(api, method_name, zone, machine_type, resource, count, target):
    """The error the new operation is to end with, or None:
    (code, message, http status, details)."""
    world = api.world
    injected = api.faults.operation_error(method_name)
    if injected:
        return _injected_error(world, injected, target)
    stock = world.stockout_of(zone)
    capacity = api.faults.zone_capacity(zone)
    if stock is None and capacity is not None and len(occupying(world, zone)) + count > capacity \
            and method_name != "instances.bulkInsert":
        stock = "ZONE_RESOURCE_POOL_EXHAUSTED"
    if stock:
        return stockout_error(world, zone, stock, machine_type)
    problem = _quota_problem(api, machine_type, resource, count)
    if problem:
        return "QUOTA_EXCEEDED", quota_message(world, *problem), 403, _quota_details(world, *problem)
    return None


def _injected_error(world, code, target):
    rel = relative(target, world.base_url)
    messages = {
        "RESOURCE_NOT_READY": (f"The resource '{rel}' is not ready", 400),
        "RESOURCE_OPERATION_RATE_EXCEEDED": (f"Operation rate exceeded for resource '{rel}'. Too frequent "
                                             "operations from the source resource.", 403),
        "INTERNAL_ERROR": ("Internal error. Please try again or contact Google Support. "
                           "(Code: 'emulated-internal-error')", 500),
        "QUOTA_EXCEEDED": (quota_message(world, "CPUS", 0), 403),
    }
    message, status = messages[code]
    return code, message, status, None


def _settled(inst):
    """Whether an insert or start is over: the instance runs, or someone
    stopped or deleted it meanwhile."""
    return inst.gone or inst.status not in ("PROVISIONING", "STAGING")


# -- insert ------------------------------------------------------------------------------

def _new_instance(world, zone, name, machine_type, resource, labels, items, wants_nat, request_id):
    inst = Instance(name=name, zone=zone, id=new_id(), machine_type=machine_type, created=rfc3339(),
                    status="PROVISIONING", since=world.clock(), labels=labels, metadata_items=items,
                    network_ip=world.allocate_internal(), nat_ip=world.allocate_external() if wants_nat else None,
                    resource=resource, request_id=request_id)
    world.add_instance(inst)
    return inst


def _doom(world, op, instances, failure):
    """Makes ``op`` end with ``failure`` once provisioning time is over, and
    the instances it created vanish then."""
    code, message, status, details = failure
    world.fail_operation(op, code, message, status, details)
    for inst in instances:
        inst.doomed = True
    op.not_before += world.provision_seconds
    op.ready = None

    def vanish():
        for inst in instances:
            world.remove_instance(inst)
    op.on_done = vanish


@method("instances.insert")
def insert(api, params, query, body):
    world, zone = api.world, params["zone"]
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return world.operation_json(earlier)
    for key in ("sourceInstanceTemplate", "sourceMachineImage"):
        if query.get(key):
            raise invalid(key, query[key], "Instance templates and machine images are not emulated.")
    name = check_name(body.get("name"), "resource.name")
    machine_type = _machine_type(world, zone, body.get("machineType"), "resource.machineType")
    labels, items, wants_nat = _check_properties(world, zone, body, "resource", machine_type)
    if (zone, name) in world.instances:
        raise GceError(409, "alreadyExists",
                       f"The resource 'projects/{world.project}/zones/{zone}/instances/{name}' already exists")
    check_sync_quota(api, machine_type, body, 1)
    target = world.link(f"zones/{zone}/instances/{name}")
    failure = operation_failure(api, "instances.insert", zone, machine_type, body, 1, target)
    inst = _new_instance(world, zone, name, machine_type, body, labels, items, wants_nat, request_id)
    op = world.new_operation("instances.insert", "insert", target, inst.id, zone,
                             delay=api.faults.operation_delay("instances.insert"),
                             ready=lambda: _settled(inst), request_id=request_id)
    if failure:
        _doom(world, op, [inst], failure)
    return world.operation_json(op)


# -- bulkInsert ----------------------------------------------------------------------------

def _pattern_names(world, zone, pattern, how_many, taken):
    runs = re.findall(r"#+", pattern)
    if len(runs) != 1 or len(runs[0]) > 18:
        raise invalid("resource.namePattern", pattern, "The pattern must contain one continuous sequence of "
                                                       "up to 18 '#' characters.")
    width = len(runs[0])
    head, tail = pattern.split(runs[0])
    regex = re.compile(re.escape(head) + rf"(\d{{{width}}})" + re.escape(tail) + "$")
    numbers = [int(m.group(1)) for (z, n) in world.instances for m in [regex.match(n)] if z == zone and m]
    start = max(numbers, default=0) + 1
    names = []
    number = start
    while len(names) < how_many:
        candidate = f"{head}{number:0{width}d}{tail}"
        if len(str(number)) > width:
            raise invalid("resource.namePattern", pattern, "The pattern has no room for more instances.")
        if candidate not in taken:
            names.append(check_name(candidate, "resource.namePattern"))
        number += 1
    return names


def _bulk_counts(body, per_instance):
    try:
        count = int(body["count"]) if body.get("count") is not None else len(per_instance)
        min_count = int(body["minCount"]) if body.get("minCount") is not None else count
    except ValueError:
        raise invalid("resource.count", body.get("count"), "Must be an integer.") from None
    if count <= 0:
        raise required("resource.count")
    if count > MAX_BULK:
        raise invalid("resource.count", count, f"Must be at most {MAX_BULK}.")
    if count < len(per_instance):
        raise invalid("resource.count", count, "Must be at least the number of perInstanceProperties.")
    if not 0 < min_count <= count:
        raise invalid("resource.minCount", min_count, "Must be between 1 and count.")
    return count, min_count


def _bulk_names(world, zone, body):
    per_instance = body.get("perInstanceProperties") or {}
    pattern = body.get("namePattern")
    if not per_instance and not pattern:
        raise invalid("resource.namePattern", "", "Either namePattern or perInstanceProperties must be set.")
    count, min_count = _bulk_counts(body, per_instance)
    names = []
    for name in per_instance:
        check_name(name, f"resource.perInstanceProperties.{name}")
        if (zone, name) in world.instances:
            raise GceError(409, "alreadyExists",
                           f"The resource 'projects/{world.project}/zones/{zone}/instances/{name}' already exists")
        names.append(name)
    if len(names) < count:
        if not pattern:
            raise invalid("resource.namePattern", "", "namePattern is needed for more instances than "
                                                      "perInstanceProperties names.")
        names += _pattern_names(world, zone, pattern, count - len(names), set(names))
    return names, min_count


def _bulk_room(api, zone, wanted):
    capacity = api.faults.zone_capacity(zone)
    if api.world.stockout_of(zone):
        return 0
    if capacity is None:
        return wanted
    return max(0, min(wanted, capacity - len(occupying(api.world, zone))))


def _bulk_machine_type(world, zone, value):
    """The bare machine type of instanceProperties; a URL there is accepted
    and then fails the operation with INTERNAL_ERROR, as on Compute."""
    if not value:
        raise invalid("resource.instanceProperties.machineType", "", "Machine type must be specified.")
    if "/" in value:
        return None
    if value not in catalog.MACHINE_TYPES:
        raise not_found(f"projects/{world.project}/zones/{zone}/machineTypes/{value}")
    return value


@method("instances.bulkInsert")
def bulk_insert(api, params, query, body):
    world, zone = api.world, params["zone"]
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return world.operation_json(earlier)
    if body.get("sourceInstanceTemplate"):
        raise invalid("resource.sourceInstanceTemplate", body["sourceInstanceTemplate"],
                      "Instance templates are not emulated.")
    if body.get("locationPolicy"):
        raise invalid("resource.locationPolicy", "", "locationPolicy is for regional bulkInsert only.")
    props = body.get("instanceProperties")
    if not props:
        raise required("resource.instanceProperties")
    names, min_count = _bulk_names(world, zone, body)
    machine_type = _bulk_machine_type(world, zone, props.get("machineType"))
    labels, items, wants_nat = _check_properties(world, zone, props, "resource.instanceProperties",
                                                 machine_type or "n1-standard-1")
    target = world.zone_link(zone)
    if machine_type is None:
        op = world.new_operation("instances.bulkInsert", "bulkInsert", target, "0", zone, request_id=request_id)
        _doom(world, op, [], ("INTERNAL_ERROR", "Internal error. Please try again or contact Google Support. "
                                                "(Code: 'bulk-insert-machine-type-url')", 500, None))
        return world.operation_json(op)
    room = _bulk_room(api, zone, len(names))
    make = names[:room] if room >= min_count else []
    check_sync_quota(api, machine_type, props, max(len(make), min_count))
    failure = operation_failure(api, "instances.bulkInsert", zone, machine_type, props, len(make), target)
    if failure is None and room < min_count:
        stock = world.stockout_of(zone)
        failure = stockout_error(world, zone, stock, machine_type) if stock else \
            ("VM_MIN_COUNT_NOT_REACHED", f"Requested minimum count of {min_count} VMs could not be created.",
             503, None)
    created = [_new_instance(world, zone, name, machine_type, dict(props, name=name), dict(labels),
                             [dict(i) for i in items], wants_nat, request_id)
               for name in (make if failure is None else [])]
    op = world.new_operation("instances.bulkInsert", "bulkInsert", target, "0", zone,
                             delay=api.faults.operation_delay("instances.bulkInsert"),
                             ready=lambda: all(_settled(i) for i in created),
                             request_id=request_id)
    status = {"targetVmCount": len(names), "createdVmCount": len(created),
              "failedToCreateVmCount": len(names) - len(created), "deletedVmCount": 0}
    op.bulk = {f"zones/{zone}": dict(status, status="CREATING")}
    if failure:
        _doom(world, op, [], failure)
    on_done = op.on_done

    def finish():
        if on_done:
            on_done()
        op.bulk[f"zones/{zone}"]["status"] = "DONE"
    op.on_done = finish
    return world.operation_json(op)


# -- reading -----------------------------------------------------------------------------

def instance_of(world, params):
    zone, name = params["zone"], params["instance"]
    return find(world.instances, (zone, name), f"projects/{world.project}/zones/{zone}/instances/{name}")


@method("instances.get")
def get(api, params, query, body):
    return instance_json(api.world, instance_of(api.world, params))


@method("instances.list")
def list_(api, params, query, body):
    world, zone = api.world, params["zone"]
    items = select([instance_json(world, i) for i in world.live(zone)], query)
    return page(items, query, "compute#instanceList", world.link(f"zones/{zone}/instances"),
                f"projects/{world.project}/zones/{zone}/instances")


@method("instances.aggregatedList")
def aggregated_list(api, params, query, body):
    world = api.world
    rows = select([instance_json(world, i) for i in world.live()], query)
    answer = page(rows, query, "compute#instanceAggregatedList", world.link("aggregated/instances"),
                  f"projects/{world.project}/aggregated/instances")
    grouped = {}
    for zone in world.zones:
        grouped[f"zones/{zone}"] = {"warning": {
            "code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/%s' on this page." % zone,
            "data": [{"key": "scope", "value": f"zones/{zone}"}]}}
    for row in answer.pop("items", []):
        zone = row["zone"].rsplit("/", 1)[-1]
        grouped[f"zones/{zone}"] = grouped[f"zones/{zone}"] if "instances" in grouped[f"zones/{zone}"] \
            else {"instances": []}
        grouped[f"zones/{zone}"]["instances"].append(row)
    answer["items"] = grouped
    return answer


# -- changing ------------------------------------------------------------------------------

def _simple_operation(api, method_name, operation_type, inst, request_id, *, ready=None, quick=False):
    world = api.world
    op = world.new_operation(method_name, operation_type, world.instance_link(inst), inst.id, inst.zone,
                             delay=api.faults.operation_delay(method_name), ready=ready, request_id=request_id,
                             quick=quick)
    return op


def _mutation(api, method_name, params, query):
    """(instance, requestId, earlier operation or None, injected failure or None)."""
    world = api.world
    request_id = check_request_id(query)
    earlier = world.by_request_id(request_id)
    if earlier is not None:
        return None, request_id, earlier, None
    inst = instance_of(world, params)
    code = api.faults.operation_error(method_name)
    failure = _injected_error(world, code, world.instance_link(inst)) if code else None
    return inst, request_id, None, failure


def _failed(api, method_name, operation_type, inst, request_id, failure):
    op = _simple_operation(api, method_name, operation_type, inst, request_id, quick=True)
    code, message, status, details = failure
    api.world.fail_operation(op, code, message, status, details)
    return api.world.operation_json(op)


@method("instances.delete")
def delete(api, params, query, body):
    world = api.world
    inst, request_id, earlier, failure = _mutation(api, "instances.delete", params, query)
    if earlier is not None:
        return world.operation_json(earlier)
    if failure:
        return _failed(api, "instances.delete", "delete", inst, request_id, failure)
    if not inst.deleting:
        inst.deleting = True
        inst.boot_generation += 1
        world.set_status(inst, "STOPPING")
    op = _simple_operation(api, "instances.delete", "delete", inst, request_id, ready=lambda: inst.gone)
    return world.operation_json(op)


@method("instances.stop")
def stop(api, params, query, body):
    world = api.world
    inst, request_id, earlier, failure = _mutation(api, "instances.stop", params, query)
    if earlier is not None:
        return world.operation_json(earlier)
    if failure:
        return _failed(api, "instances.stop", "stop", inst, request_id, failure)
    if inst.deleting:
        raise GceError(400, "resourceNotReady", f"The resource '{world.instance_link(inst)}' is not ready")
    if inst.status != "TERMINATED":
        inst.boot_generation += 1
        world.set_status(inst, "STOPPING")
    op = _simple_operation(api, "instances.stop", "stop", inst, request_id,
                           ready=lambda: inst.status == "TERMINATED" or inst.gone)
    return world.operation_json(op)


@method("instances.start")
def start(api, params, query, body):
    world = api.world
    inst, request_id, earlier, failure = _mutation(api, "instances.start", params, query)
    if earlier is not None:
        return world.operation_json(earlier)
    if failure:
        return _failed(api, "instances.start", "start", inst, request_id, failure)
    if inst.deleting or inst.status == "STOPPING":
        raise GceError(400, "resourceNotReady", f"The resource '{world.instance_link(inst)}' is not ready")
    if inst.status == "TERMINATED":
        check_sync_quota(api, inst.machine_type, inst.resource, 1)
        stock = world.stockout_of(inst.zone)
        capacity = api.faults.zone_capacity(inst.zone)
        if stock is None and capacity is not None and len(occupying(world, inst.zone)) >= capacity:
            stock = "ZONE_RESOURCE_POOL_EXHAUSTED"
        if stock:
            return _failed(api, "instances.start", "start", inst, request_id,
                           stockout_error(world, inst.zone, stock, inst.machine_type))
        inst.boot_generation += 1
        world.set_status(inst, "STAGING")
    op = _simple_operation(api, "instances.start", "start", inst, request_id,
                           ready=lambda: _settled(inst))
    return world.operation_json(op)


@method("instances.setLabels")
def set_labels(api, params, query, body):
    world = api.world
    inst, request_id, earlier, failure = _mutation(api, "instances.setLabels", params, query)
    if earlier is not None:
        return world.operation_json(earlier)
    labels = check_labels(body.get("labels"), "resource.labels")
    if body.get("labelFingerprint") != inst.label_fingerprint:
        raise GceError(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have "
                                               "changed", location="If-Match", location_type="header")
    if failure:
        return _failed(api, "instances.setLabels", "setLabels", inst, request_id, failure)
    inst.labels = labels
    op = _simple_operation(api, "instances.setLabels", "setLabels", inst, request_id, quick=True)
    return world.operation_json(op)


@method("instances.setMetadata")
def set_metadata(api, params, query, body):
    world = api.world
    inst, request_id, earlier, failure = _mutation(api, "instances.setMetadata", params, query)
    if earlier is not None:
        return world.operation_json(earlier)
    items = check_metadata_items(body.get("items"), "resource")
    if body.get("fingerprint") != inst.metadata_fingerprint:
        raise GceError(412, "conditionNotMet", "Supplied fingerprint does not match current metadata "
                                               "fingerprint.", location="If-Match", location_type="header")
    if failure:
        return _failed(api, "instances.setMetadata", "setMetadata", inst, request_id, failure)
    inst.metadata_items = items
    api.metadata_changed.append(inst)
    op = _simple_operation(api, "instances.setMetadata", "setMetadata", inst, request_id, quick=True)
    return world.operation_json(op)
