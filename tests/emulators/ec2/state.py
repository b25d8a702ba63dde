"""The emulated account in one region: VPC, subnets, groups, key pairs, images,
instances and volumes, and the clock-driven instance life cycle.

Instances move pending -> running after ``boot_seconds``, stopping -> stopped
and shutting-down -> terminated after ``terminate_seconds``, and a terminated
instance stays visible for ``terminated_visible_seconds`` before it is gone.
Transitions happen when anyone looks (``advance``), under the world's lock.
When instances are backed by sshd hosts, pending -> running is left to the
emulator's ticker, which starts the host first (see ``hosts_to_boot``).

Public addresses are always on loopback (127.77.X.Y) so no client ever sends
traffic off this machine; private addresses are in the subnet's 172.31 range,
or on loopback 127.78.X.Y when ``internal_loopback`` is on.
"""
import datetime
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field

ACCOUNT_ID = "123456789012"
CANONICAL = "099720109477"
AMAZON = "137112412989"

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
               "stopping": 64, "stopped": 80}
LIVE_STATES = ("pending", "running", "stopping", "shutting-down")


def new_id(prefix):
    """An EC2-style long id: prefix-0 followed by 16 hex digits."""
    return f"{prefix}-0{secrets.token_hex(8)}"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass
class Vpc:
    id: str
    cidr: str
    is_default: bool
    tags: dict = field(default_factory=dict)
    dhcp_options_id: str = field(default_factory=lambda: new_id("dopt"))
    association_id: str = field(default_factory=lambda: new_id("vpc-cidr-assoc"))


@dataclass
class Subnet:
    id: str
    vpc_id: str
    zone: str
    zone_id: str
    cidr: str
    default_for_az: bool
    map_public_ip: bool
    tags: dict = field(default_factory=dict)
    next_host: int = 4  # EC2 reserves the first four addresses of a subnet


@dataclass
class Rule:
    """One atomic permission: protocol, ports and one peer (CIDR or group)."""
    protocol: str
    from_port: int | None
    to_port: int | None
    peer_kind: str  # "cidr", "cidr6", "group", "prefix"
    peer: str
    description: str | None = None
    rule_id: str = field(default_factory=lambda: new_id("sgr"))

    def key(self):
        return (self.protocol, self.from_port, self.to_port, self.peer_kind, self.peer)


@dataclass
class SecurityGroup:
    id: str
    name: str
    description: str
    vpc_id: str
    tags: dict = field(default_factory=dict)
    ingress: list = field(default_factory=list)
    egress: list = field(default_factory=list)


@dataclass
class KeyPair:
    id: str
    name: str
    fingerprint: str
    key_type: str
    public_key: str  # OpenSSH one-line form
    created: datetime.datetime
    tags: dict = field(default_factory=dict)


@dataclass
class Image:
    id: str
    name: str
    owner_id: str
    architecture: str
    creation_date: str
    description: str
    root_device: str = "/dev/sda1"
    state: str = "available"
    alias: str | None = None
    snapshot_id: str = field(default_factory=lambda: new_id("snap"))
    size_gib: int = 8
    tags: dict = field(default_factory=dict)


@dataclass
class Volume:
    id: str
    device: str
    size_gib: int
    volume_type: str
    delete_on_termination: bool
    instance_id: str
    zone: str
    attach_time: datetime.datetime
    tags: dict = field(default_factory=dict)
    iops: int | None = None
    encrypted: bool = False


@dataclass
class Instance:
    id: str
    seq: int
    reservation_id: str
    image_id: str
    instance_type: str
    key_name: str | None
    subnet_id: str
    vpc_id: str
    zone: str
    security_group_ids: list
    tags: dict
    client_token: str | None
    launch_index: int
    launch_time: datetime.datetime
    state: str
    since: float  # clock time of the last state change
    architecture: str
    root_device: str
    private_ip: str | None
    public_ip: str | None
    wants_public_ip: bool
    spot: bool = False
    spot_request_id: str | None = None
    spot_stoppable: bool = False
    iam_profile: dict | None = None
    user_data: str | None = None
    ebs_optimized: bool = False
    monitoring: bool = False
    volume_ids: list = field(default_factory=list)
    eni_id: str = field(default_factory=lambda: new_id("eni"))
    eni_attachment_id: str = field(default_factory=lambda: new_id("eni-attach"))
    mac: str = field(default_factory=lambda: "0a:" + ":".join(secrets.token_hex(1) for _ in range(5)))
    transition_reason: str = ""
    state_reason: dict | None = None
    gone: bool = False
    host: object = None  # the sshd serving this instance while it runs
    boot_generation: int = 0


# Canonical's Ubuntu images and one Amazon Linux image, as DescribeImages lists them.
SEED_IMAGES = [
    ("ami-0a1b2c3d4e5f60001", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101",
     CANONICAL, "x86_64", "2025-01-01T08:12:31.000Z",
     "Canonical, Ubuntu, 24.04, amd64 noble image", None),
    ("ami-0a1b2c3d4e5f60002", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119",
     CANONICAL, "x86_64", "2024-11-19T07:41:02.000Z",
     "Canonical, Ubuntu, 24.04, amd64 noble image", None),
    ("ami-0a1b2c3d4e5f60003", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20250101",
     CANONICAL, "arm64", "2025-01-01T08:15:44.000Z",
     "Canonical, Ubuntu, 24.04, arm64 noble image", None),
    ("ami-0a1b2c3d4e5f60004", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20241217",
     CANONICAL, "x86_64", "2024-12-17T10:03:55.000Z",
     "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image", None),
    ("ami-0a1b2c3d4e5f60005", "al2023-ami-2023.6.20250107.0-kernel-6.1-x86_64",
     AMAZON, "x86_64", "2025-01-07T21:11:09.000Z",
     "Amazon Linux 2023 AMI 2023.6.20250107.0 x86_64 HVM kernel-6.1", "amazon"),
]

# Instance types: vCPUs, memory (MiB), architectures, GPUs (name, maker, count, MiB each).
INSTANCE_TYPES = {
    "t3.micro": (2, 1024, ["x86_64"], None),
    "t3.small": (2, 2048, ["x86_64"], None),
    "t3.medium": (2, 4096, ["x86_64"], None),
    "t3.large": (2, 8192, ["x86_64"], None),
    "t4g.medium": (2, 4096, ["arm64"], None),
    "m5.large": (2, 8192, ["x86_64"], None),
    "m5.xlarge": (4, 16384, ["x86_64"], None),
    "m5.2xlarge": (8, 32768, ["x86_64"], None),
    "m6i.large": (2, 8192, ["x86_64"], None),
    "m6g.large": (2, 8192, ["arm64"], None),
    "c5.xlarge": (4, 8192, ["x86_64"], None),
    "r5.large": (2, 16384, ["x86_64"], None),
    "m1.small": (1, 1740, ["i386", "x86_64"], None),
    "g4dn.xlarge": (4, 16384, ["x86_64"], ("T4", "NVIDIA", 1, 16384)),
    "p3.2xlarge": (8, 62464, ["x86_64"], ("V100", "NVIDIA", 1, 16384)),
}


class World:
    """Everything the emulated account holds, behind one lock."""

    def __init__(self, region, *, boot_seconds=2.0, terminate_seconds=1.0,
                 terminated_visible_seconds=60.0, ssh_backed=False, internal_loopback=False,
                 clock=time.monotonic):
        self.region = region
        self.boot_seconds = boot_seconds
        self.terminate_seconds = terminate_seconds
        self.terminated_visible_seconds = terminated_visible_seconds
        self.ssh_backed = ssh_backed
        self.internal_loopback = internal_loopback
        self.clock = clock
        self.lock = threading.RLock()
        self.vpcs = {}
        self.subnets = {}
        self.groups = {}
        self.key_pairs = {}
        self.images = {}
        self.instances = {}  # id -> Instance, launch order; gone ones kept for ClientToken answers
        self.volumes = {}
        self.reservations = {}  # reservation id -> [instance ids]
        self.client_tokens = {}  # token -> (fingerprint, reservation id)
        self._seq = 0
        self._public_n = 0
        self._private_n = 0
        self._seed()

    # -- seeding ---------------------------------------------------------------

    def _seed(self):
        vpc = Vpc(new_id("vpc"), "172.31.0.0/16", True)
        self.vpcs[vpc.id] = vpc
        self.default_vpc_id = vpc.id
        for i, letter in enumerate("abc"):
            subnet = Subnet(new_id("subnet"), vpc.id, f"{self.region}{letter}", f"{self.zone_prefix()}-az{i + 1}",
                            f"172.31.{16 * i}.0/20", True, True)
            self.subnets[subnet.id] = subnet
        self.create_group("default", "default VPC security group", vpc.id, default=True)
        for image_id, name, owner, arch, created, description, alias in SEED_IMAGES:
            root = "/dev/xvda" if owner == AMAZON else "/dev/sda1"
            self.images[image_id] = Image(image_id, name, owner, arch, created, description, root, alias=alias)

    def zone_prefix(self):
        parts = self.region.split("-")
        return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1]

    def zones(self):
        return sorted({s.zone: s.zone_id for s in self.subnets.values()}.items())

    def create_group(self, name, description, vpc_id, tags=None, default=False):
        group = SecurityGroup(new_id("sg"), name, description, vpc_id, dict(tags or {}))
        if default:
            group.ingress.append(Rule("-1", None, None, "group", group.id))
        group.egress.append(Rule("-1", None, None, "cidr", "0.0.0.0/0"))
        self.groups[group.id] = group
        return group

    def default_group(self, vpc_id):
        return next(g for g in self.groups.values() if g.vpc_id == vpc_id and g.name == "default")

    def default_subnet(self, zone=None):
        for subnet in self.subnets.values():
            if subnet.default_for_az and (zone is None or subnet.zone == zone):
                return subnet
        return None

    # -- addresses -------------------------------------------------------------

    def allocate_public_ip(self):
        n = self._public_n
        self._public_n += 1
        return f"127.77.{n // 254}.{n % 254 + 1}"

    def allocate_private_ip(self, subnet):
        if self.internal_loopback:
            n = self._private_n
            self._private_n += 1
            return f"127.78.{n // 254}.{n % 254 + 1}"
        network = ipaddress.ip_network(subnet.cidr)
        address = network.network_address + subnet.next_host
        subnet.next_host += 1
        return str(address)

    def used_private_ips(self):
        return {i.private_ip for i in self.instances.values() if not i.gone and i.private_ip}

    # -- instances -------------------------------------------------------------

    def next_seq(self):
        self._seq += 1
        return self._seq

    def visible_instances(self):
        return [i for i in self.instances.values() if not i.gone]

    def set_state(self, instance, state, now=None):
        instance.state = state
        instance.since = self.clock() if now is None else now

    def advance(self):
        """Applies every transition whose time has come."""
        now = self.clock()
        for inst in self.instances.values():
            if inst.gone:
                continue
            elapsed = now - inst.since
            if inst.state == "pending" and elapsed >= self.boot_seconds and not self.ssh_backed:
                self.set_state(inst, "running", inst.since + self.boot_seconds)
            elif inst.state == "stopping" and elapsed >= self.terminate_seconds:
                self.set_state(inst, "stopped", inst.since + self.terminate_seconds)
                inst.state_reason = {"Code": "Client.UserInitiatedShutdown",
                                     "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
            elif inst.state == "shutting-down" and elapsed >= self.terminate_seconds:
                self.set_state(inst, "terminated", inst.since + self.terminate_seconds)
                inst.private_ip = None
                inst.state_reason = {"Code": "Client.UserInitiatedShutdown",
                                     "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
                for volume_id in inst.volume_ids:
                    volume = self.volumes.get(volume_id)
                    if volume and volume.delete_on_termination:
                        del self.volumes[volume_id]
            if inst.state == "terminated" and now - inst.since >= self.terminated_visible_seconds:
                inst.gone = True

    def hosts_to_boot(self):
        """Pending instances whose boot time is over, for the ticker to start
        their sshd and then call ``finish_boot``.

        Returns [(id, generation, addresses, public key of its key pair or "")];
        EC2 puts the key pair's public key into the image's authorized_keys."""
        now = self.clock()
        due = []
        for inst in self.instances.values():
            if not inst.gone and inst.state == "pending" and now - inst.since >= self.boot_seconds \
                    and inst.host is None:
                addresses = [a for a in (inst.public_ip,
                                         inst.private_ip if self.internal_loopback else None) if a]
                key = self.key_pairs.get(inst.key_name) if inst.key_name else None
                due.append((inst.id, inst.boot_generation, addresses, key.public_key if key else ""))
        return due

    def finish_boot(self, instance_id, generation, host):
        """Marks the instance running with its host; False if it moved on meanwhile."""
        inst = self.instances.get(instance_id)
        if inst is None or inst.gone or inst.state != "pending" or inst.boot_generation != generation:
            return False
        inst.host = host
        self.set_state(inst, "running")
        return True

    def hosts_to_stop(self):
        """Hosts of instances no longer running, detached from them."""
        stale = []
        for inst in self.instances.values():
            if inst.host is not None and (inst.gone or inst.state != "running"):
                stale.append(inst.host)
                inst.host = None
        return stale

    # -- snapshots for tests ---------------------------------------------------

    def instance_summary(self, inst):
        return {
            "id": inst.id, "state": inst.state, "tags": dict(inst.tags), "zone": inst.zone,
            "subnet_id": inst.subnet_id, "vpc_id": inst.vpc_id, "public_ip": inst.public_ip,
            "private_ip": inst.private_ip, "client_token": inst.client_token,
            "instance_type": inst.instance_type, "image_id": inst.image_id, "key_name": inst.key_name,
            "security_group_ids": list(inst.security_group_ids), "spot": inst.spot,
            "reservation_id": inst.reservation_id, "iam_instance_profile": inst.iam_profile,
            "user_data": inst.user_data, "launch_time": inst.launch_time.isoformat(),
            "volumes": [{"id": v.id, "device": v.device, "size_gib": v.size_gib, "type": v.volume_type,
                         "tags": dict(v.tags)} for v in (self.volumes.get(x) for x in inst.volume_ids) if v],
        }

    def group_summary(self, group):
        def rules(rs):
            return [{"protocol": r.protocol, "from_port": r.from_port, "to_port": r.to_port,
                     "peer_kind": r.peer_kind, "peer": r.peer, "description": r.description} for r in rs]
        return {"id": group.id, "name": group.name, "description": group.description, "vpc_id": group.vpc_id,
                "tags": dict(group.tags), "ingress": rules(group.ingress), "egress": rules(group.egress)}

    def key_pair_summary(self, key):
        return {"id": key.id, "name": key.name, "fingerprint": key.fingerprint, "key_type": key.key_type,
                "public_key": key.public_key, "tags": dict(key.tags)}
