"""The emulated project in one region: zones, instances, operations,
firewalls, project metadata, and the clock-driven life cycles.

Instances go PROVISIONING -> STAGING -> RUNNING (``provision_seconds``, then
``staging_seconds``; when they are backed by sshd, STAGING -> RUNNING is left
to the emulator's ticker, which starts the sshd first), STOPPING ->
TERMINATED (``stop_seconds``), and a deleted one is STOPPING for
``delete_seconds`` before it is gone. Operations are PENDING for
``pending_seconds``, then RUNNING until what they wait for has happened (and
any injected delay has passed), then DONE, with ``error`` when they failed.
Transitions happen when anyone looks (``advance``), under the world's lock.

Addresses are on loopback so nothing leaves the machine: internal addresses
(``networkIP``) 127.79.0.0/17, external ones (``natIP``) 127.79.128.0/17.
"""
import base64
import datetime
import getpass
import hashlib
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

HOSTS = ("www.googleapis.com", "compute.googleapis.com")


def rfc3339(when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.astimezone(datetime.timezone(datetime.timedelta(hours=-8))).isoformat(timespec="milliseconds")


def fingerprint(value):
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()[:8]
    return base64.b64encode(digest).decode()


def new_id():
    return str(secrets.randbits(63) | (1 << 62))


@dataclass
class Instance:
    name: str
    zone: str
    id: str
    machine_type: str
    created: str
    status: str
    since: float
    labels: dict
    metadata_items: list
    network_ip: str
    nat_ip: str | None
    resource: dict          # the request's Instance, for the fields echoed back
    request_id: str | None = None
    gone: bool = False
    deleting: bool = False
    doomed: bool = False    # its insert operation is to fail: it never gets past PROVISIONING
    host: object = None     # the sshd serving this instance while it runs
    boot_generation: int = 0
    last_start: str | None = None
    last_stop: str | None = None

    @property
    def label_fingerprint(self):
        return fingerprint(sorted(self.labels.items()))

    @property
    def metadata_fingerprint(self):
        return fingerprint([(i["key"], i.get("value")) for i in self.metadata_items])

    def ssh_key_lines(self):
        """(user, authorized_keys line) of the ``ssh-keys`` metadata
        (``user:ssh-ed25519 AAAA... comment`` lines; others are ignored, as
        the guest agent ignores them)."""
        out = []
        for item in self.metadata_items:
            if item["key"] in ("ssh-keys", "sshKeys"):
                for line in (item.get("value") or "").splitlines():
                    user, sep, key = line.strip().partition(":")
                    if sep and user and key.strip():
                        out.append((user, key.strip()))
        return out

    def ssh_keys(self, login_user):
        """The authorized_keys text for ``login_user``: the metadata lines
        naming that user, as the guest agent installs each key for its user."""
        return "\n".join(key for user, key in self.ssh_key_lines() if user == login_user)


@dataclass
class Operation:
    name: str
    id: str
    scope: str              # "zone" or "global"
    zone: str | None
    operation_type: str
    target_link: str
    target_id: str
    method: str             # instances.insert ...
    created: float
    insert_time: str
    pending_until: float
    not_before: float
    ready: object = None    # callable: True once what the operation waits for happened
    on_done: object = None  # callable run once when DONE
    error: list | None = None
    http_error: tuple | None = None
    status: str = "PENDING"
    start_time: str | None = None
    end_time: str | None = None
    request_id: str | None = None
    bulk: dict | None = None
    warnings: list = field(default_factory=list)
    status_message: str | None = None


@dataclass
class Firewall:
    name: str
    id: str
    created: str
    resource: dict


class World:
    """Everything the emulated project holds, behind one lock."""

    def __init__(self, project, region, *, base_url="", provision_seconds=0.3, staging_seconds=0.3,
                 stop_seconds=0.3, delete_seconds=0.3, pending_seconds=0.05, quick_seconds=0.1,
                 ssh_backed=False, clock=time.monotonic):
        self.project, self.region = project, region
        self.zones = [f"{region}-{letter}" for letter in "abc"]
        self.base_url = base_url
        self.provision_seconds, self.staging_seconds = provision_seconds, staging_seconds
        self.stop_seconds, self.delete_seconds = stop_seconds, delete_seconds
        self.pending_seconds, self.quick_seconds = pending_seconds, quick_seconds
        self.ssh_backed = ssh_backed
        self.login_user = getpass.getuser()  # the only user the sshd hosts can log in
        self.faults = None           # set by the emulator: stockouts are faults
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.instances = {}          # (zone, name) -> Instance, live ones
        self.ever = []               # every Instance ever created, in order
        self.operations = {}         # name -> Operation
        self.firewalls = {}          # name -> Firewall
        self.request_ids = {}        # requestId -> (operation name, created until)
        self.request_creations = {}  # requestId -> how many instances it created
        self.project_metadata = []
        self.project_ssh_keys_set = False
        self.project_metadata_calls = 0
        self._internal = itertools.count(1)
        self._external = itertools.count(1)
        self._op_seq = itertools.count(1)

    # -- links -------------------------------------------------------------------

    def link(self, rest):
        return f"{self.base_url}/compute/v1/projects/{self.project}/{rest}"

    def zone_link(self, zone):
        return self.link(f"zones/{zone}")

    def instance_link(self, inst):
        return self.link(f"zones/{inst.zone}/instances/{inst.name}")

    # -- addresses ---------------------------------------------------------------

    def allocate_internal(self):
        n = next(self._internal)
        return f"127.79.{n // 254}.{n % 254 + 1}"

    def allocate_external(self):
        n = next(self._external)
        return f"127.79.{128 + n // 254}.{n % 254 + 1}"

    # -- instances -----------------------------------------------------------------

    def add_instance(self, inst):
        self.instances[(inst.zone, inst.name)] = inst
        self.ever.append(inst)
        if inst.request_id:
            self.request_creations[inst.request_id] = self.request_creations.get(inst.request_id, 0) + 1

    def remove_instance(self, inst):
        inst.gone = True
        self.instances.pop((inst.zone, inst.name), None)

    def set_status(self, inst, status, now=None):
        inst.status = status
        inst.since = self.clock() if now is None else now
        if status == "RUNNING":
            inst.last_start = rfc3339()
        if status == "TERMINATED":
            inst.last_stop = rfc3339()
        self.changed.notify_all()

    def stockout_of(self, zone):
        return self.faults.stockout(zone) if self.faults is not None else None

    def live(self, zone=None):
        return [i for i in self.instances.values() if zone is None or i.zone == zone]

    def _advance_instance(self, inst, now):
        elapsed = now - inst.since
        if inst.doomed and inst.status == "PROVISIONING":
            return
        if inst.status == "PROVISIONING" and elapsed >= self.provision_seconds:
            self.set_status(inst, "STAGING", inst.since + self.provision_seconds)
        elif inst.status == "STAGING" and elapsed >= self.staging_seconds and not self.ssh_backed:
            self.set_status(inst, "RUNNING", inst.since + self.staging_seconds)
        elif inst.status == "STOPPING" and inst.deleting and elapsed >= self.delete_seconds:
            self.remove_instance(inst)
            self.changed.notify_all()
        elif inst.status == "STOPPING" and not inst.deleting and elapsed >= self.stop_seconds:
            self.set_status(inst, "TERMINATED", inst.since + self.stop_seconds)

    def advance(self):
        """Applies every transition whose time has come."""
        now = self.clock()
        for inst in list(self.instances.values()):
            for _ in range(3):
                before = inst.status
                self._advance_instance(inst, now)
                if inst.status == before or inst.gone:
                    break
        for op in self.operations.values():
            self._advance_operation(op, now)

    def _advance_operation(self, op, now):
        if op.status == "DONE":
            return
        if op.status == "PENDING" and now >= op.pending_until:
            op.status, op.start_time = "RUNNING", rfc3339()
            self.changed.notify_all()
        if op.status == "RUNNING" and now >= op.not_before and (op.ready is None or op.ready()):
            if op.on_done is not None:
                op.on_done()
            op.status, op.end_time = "DONE", rfc3339()
            self.changed.notify_all()

    def hosts_to_boot(self):
        """STAGING instances whose staging time is over, for the ticker to
        start their sshd and then call ``finish_boot``: [(key, generation,
        addresses, authorized keys of the instance's metadata)]."""
        now = self.clock()
        due = []
        for inst in self.instances.values():
            if inst.status == "STAGING" and now - inst.since >= self.staging_seconds and inst.host is None:
                addresses = [a for a in (inst.nat_ip, inst.network_ip) if a]
                due.append((inst.zone + "/" + inst.name, inst.id, inst.boot_generation, addresses,
                            inst.ssh_keys(self.login_user)))
        return due

    def finish_boot(self, key, generation, host):
        """Marks the instance RUNNING with its host; False if it moved on meanwhile."""
        zone, name = key.split("/", 1)
        inst = self.instances.get((zone, name))
        if inst is None or inst.status != "STAGING" or inst.boot_generation != generation:
            return False
        inst.host = host
        self.set_status(inst, "RUNNING")
        return True

    def hosts_to_stop(self):
        stale = []
        for inst in self.ever:
            if inst.host is not None and (inst.gone or inst.status != "RUNNING"):
                stale.append(inst.host)
                inst.host = None
        return stale

    # -- operations ----------------------------------------------------------------

    def new_operation(self, method, operation_type, target_link, target_id, zone=None, *, delay=0.0,
                      ready=None, on_done=None, request_id=None, quick=False):
        now = self.clock()
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}-{secrets.token_hex(4)}-" \
               f"{next(self._op_seq):08x}"
        op = Operation(name=name, id=new_id(), scope="zone" if zone else "global", zone=zone,
                       operation_type=operation_type, target_link=target_link, target_id=target_id,
                       method=method, created=now, insert_time=rfc3339(),
                       pending_until=now + self.pending_seconds,
                       not_before=now + self.pending_seconds + (self.quick_seconds if quick else 0) + delay,
                       ready=ready, on_done=on_done, request_id=request_id)
        self.operations[name] = op
        if request_id:
            self.request_ids[request_id] = (name, time.time() + 3600)
        return op

    def fail_operation(self, op, code, message, http_status=400, details=None):
        entry = {"code": code, "message": message}
        if details:
            entry["errorDetails"] = details
        op.error = (op.error or []) + [entry]
        op.http_error = (http_status, {400: "BAD REQUEST", 403: "FORBIDDEN", 409: "CONFLICT",
                                       412: "PRECONDITION FAILED", 429: "TOO MANY REQUESTS",
                                       500: "INTERNAL SERVER ERROR",
                                       503: "SERVICE UNAVAILABLE"}.get(http_status, "ERROR"))

    def operation_json(self, op):
        out = {
            "kind": "compute#operation", "id": op.id, "name": op.name, "operationType": op.operation_type,
            "targetLink": op.target_link, "targetId": op.target_id, "status": op.status,
            "user": "emulator@developer.gserviceaccount.com", "progress": 100 if op.status == "DONE" else 0,
            "insertTime": op.insert_time,
            "selfLink": self.link((f"zones/{op.zone}/" if op.zone else "global/") + f"operations/{op.name}"),
        }
        if op.zone:
            out["zone"] = self.zone_link(op.zone)
        if op.start_time:
            out["startTime"] = op.start_time
        if op.end_time:
            out["endTime"] = op.end_time
        if op.status == "DONE" and op.error:
            out["error"] = {"errors": [dict(e) for e in op.error]}
            out["httpErrorStatusCode"], out["httpErrorMessage"] = op.http_error
        if op.bulk is not None:
            out["instancesBulkInsertOperationMetadata"] = {"perLocationStatus": op.bulk}
        if op.warnings:
            out["warnings"] = op.warnings
        if op.status_message:
            out["statusMessage"] = op.status_message
        return out

    def by_request_id(self, request_id):
        """The operation an earlier request with this requestId started, if
        it is within the de-duplication window."""
        entry = self.request_ids.get(request_id) if request_id else None
        if entry is None or entry[1] < time.time():
            return None
        return self.operations.get(entry[0])

    # -- summaries for tests -------------------------------------------------------

    def instance_summary(self, inst):
        return {"name": inst.name, "zone": inst.zone, "id": inst.id, "status": inst.status,
                "machine_type": inst.machine_type, "labels": dict(inst.labels),
                "metadata": {i["key"]: i.get("value") for i in inst.metadata_items},
                "ssh_key_users": sorted({user for user, _ in inst.ssh_key_lines()}),
                "network_ip": inst.network_ip, "nat_ip": inst.nat_ip, "request_id": inst.request_id,
                "gone": inst.gone, "created": inst.created}

    def snapshot(self):
        self.advance()
        return {
            "project": self.project, "region": self.region, "zones": list(self.zones),
            "instances": [self.instance_summary(i) for i in self.instances.values()],
            "ever_created": [self.instance_summary(i) for i in self.ever],
            "firewalls": [dict(f.resource, name=f.name) for f in self.firewalls.values()],
            "operations": [self.operation_json(o) for o in self.operations.values()],
            "request_id_creations": dict(self.request_creations),
            "project_metadata": {i["key"]: i.get("value") for i in self.project_metadata},
            "project_ssh_keys_set": self.project_ssh_keys_set,
        }
