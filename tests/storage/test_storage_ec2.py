"""The storage life-cycle on the EC2 emulator, with real block devices.

Each emulated instance is a real sshd in a mount namespace of its own
(``SshHosts.namespaced``): its ``/dev/disk/by-id`` and ``/etc/fstab`` are
folders and files of the instance. An attached EBS volume is a loop device
over a sparse file (``LoopBacking``), linked into the instance's by-id folder
under the Nitro name. So raycluster's own mount commands run over SSH as on
a cloud node: blkid, mkfs.ext4 only when blank, mount, an fstab line with
nofail; and the mounts stay inside the instance's namespace.
"""
import json
import os
import pathlib
import subprocess
import sys

import botocore.session
import pytest

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
from rctest import ROOT, raycluster_binary  # noqa: E402
from ec2 import Ec2Emulator  # noqa: E402
from ec2.volumes import LoopBacking, volumes_of  # noqa: E402

BY_ID = pathlib.Path("/dev/disk/by-id")


@pytest.fixture
def by_id_mountpoint():
    """The instances bind their own folder over /dev/disk/by-id, which must
    exist as a mount point; a machine without udev's /dev/disk gets an empty
    one for the test (removed again)."""
    made = [p for p in (BY_ID.parent, BY_ID) if not p.exists()]
    for p in made:
        p.mkdir()
    yield
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:
            pass


class Ec2Env:
    def __init__(self, tmp_path, ec2):
        self.tmp, self.ec2 = tmp_path, ec2
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.key = tmp_path / "id_ed25519"
        self.bin = raycluster_binary()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AWS_") and k != "RAYCLUSTER_CHECKIP_URL"}
        self.env.update({
            "RAYCLUSTER_HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": ec2.access_key,
            "AWS_SECRET_ACCESS_KEY": ec2.secret_key,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "RAYCLUSTER_CHECKIP_URL": f"{ec2.url}/_emulator/checkip",
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        })
        self.env.pop("SSH_AUTH_SOCK", None)
        self.configs = []

    def config(self, name, mnt, extra=""):
        path = self.tmp / f"{name}.yaml"
        path.write_text(f"""cluster_name: {name}
autoscaler: off
provider: {{type: aws, region: us-east-1, endpoint_url: "{self.ec2.url}", cache_stopped_nodes: false}}
auth: {{ssh_user: root, ssh_private_key: {self.key}, ssh_port: {self.ec2.ssh_port}}}
head_node_type: head
available_node_types:
  head: {{resources: {{}}, node_config: {{InstanceType: m5.large}}}}
setup_commands: []
head_start_ray_commands: ["true"]
worker_start_ray_commands: ["true"]
storage:
  data: {{size_gb: 1, type: gp3, mount_path: {mnt}}}
{extra}""")
        self.configs.append(path)
        return path

    def run(self, *args, check=True, timeout=300):
        proc = subprocess.run([self.bin, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout, input="")
        if check and proc.returncode != 0:
            raise AssertionError(
                f"raycluster {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def on_head(self, cfg, command):
        return self.run("exec", cfg, "--", command).stdout

    def live_instances(self):
        return [i for i in self.ec2.instances() if i["state"] in ("pending", "running", "stopping",
                                                                   "stopped")]

    def client(self):
        return botocore.session.get_session().create_client(
            "ec2", region_name="us-east-1", endpoint_url=self.ec2.url,
            aws_access_key_id=self.ec2.access_key, aws_secret_access_key=self.ec2.secret_key)


@pytest.fixture
def ec2env(tmp_path, by_id_mountpoint):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = (tmp_path / "id_ed25519.pub").read_text()
    backing = LoopBacking(str(tmp_path / "disks"))
    emu = Ec2Emulator(region="us-east-1", boot_seconds=0.3, terminate_seconds=0.3,
                      ssh={"authorized_keys": public, "workdir": str(tmp_path / "hosts")})
    emu.start()
    emu.hosts.namespaced = True
    emu.world.volume_backing = backing
    env = Ec2Env(tmp_path, emu)
    try:
        yield env
        for cfg in env.configs:
            env.run("down", cfg, "-y", "--delete-storage", check=False)
        # Nothing leaked: no instance alive, no volume left.
        assert env.live_instances() == []
        assert volumes_of(emu.world) == []
    finally:
        emu.stop()
        backing.close()


def test_ebs_volume_lifecycle_with_real_mounts(ec2env, tmp_path):
    mnt = tmp_path / "mnt" / "data"
    cfg = ec2env.config("ebs", mnt)
    ec2env.run("up", cfg, "-y")
    vols = volumes_of(ec2env.ec2.world)
    assert len(vols) == 1
    vol = vols[0]
    head = ec2env.live_instances()[0]
    assert vol["AvailabilityZone"] == head["zone"]  # made where the head launched
    tags = {t["Key"]: t["Value"] for t in vol["Tags"]}
    assert tags["raycluster-volume"] == "data"
    assert tags["ray-cluster-name"] == "ebs"
    assert tags["raycluster-id"] == json.loads((ec2env.home / "ebs" / "cluster.json").read_text())["cluster_id"]
    assert vol["State"] == "in-use" and vol["Attachments"][0]["InstanceId"] == head["id"]
    # Created with its tags in the one call: no CreateTags on a volume.
    calls = ec2env.ec2.calls()
    assert [c["action"] for c in calls].count("CreateVolume") == 1
    assert not any(c["action"] == "CreateTags" and "vol-" in json.dumps(c["params"]) for c in calls)

    # Mounted on the node (its namespace), formatted once, in its fstab with nofail.
    fstype = ec2env.on_head(cfg, f"findmnt -n -o FSTYPE --mountpoint {mnt}").strip()
    assert fstype == "ext4"
    uuid = ec2env.on_head(cfg, f"blkid -p -o value -s UUID $(findmnt -n -o SOURCE --mountpoint {mnt})").strip()
    fstab = ec2env.on_head(cfg, "cat /etc/fstab")
    assert f"UUID={uuid} {mnt} ext4 defaults,nofail 0 2" in fstab
    ec2env.on_head(cfg, f"echo kept > {mnt}/kept.txt")
    assert not (mnt / "kept.txt").exists()  # the mount is the instance's own

    ec2env.run("down", cfg, "-y")
    assert ec2env.live_instances() == []
    vols = volumes_of(ec2env.ec2.world)
    assert len(vols) == 1 and vols[0]["State"] == "available"  # detached and kept

    ec2env.run("up", cfg, "-y")
    head2 = ec2env.live_instances()[0]
    assert head2["id"] != head["id"]
    vols = volumes_of(ec2env.ec2.world)
    assert [v["VolumeId"] for v in vols] == [vol["VolumeId"]]  # found again, not made anew
    assert vols[0]["Attachments"][0]["InstanceId"] == head2["id"]
    assert ec2env.on_head(cfg, f"cat {mnt}/kept.txt").strip() == "kept"
    uuid2 = ec2env.on_head(cfg, f"blkid -p -o value -s UUID $(findmnt -n -o SOURCE --mountpoint {mnt})").strip()
    assert uuid2 == uuid  # not formatted again

    # No --yes and no terminal: refused; nothing deleted or ended.
    p = ec2env.run("down", cfg, "--delete-storage", check=False)
    assert p.returncode == 1 and "refusing to go on without confirmation" in p.stderr
    assert len(volumes_of(ec2env.ec2.world)) == 1 and len(ec2env.live_instances()) == 1

    ec2env.run("down", cfg, "-y", "--delete-storage")
    assert volumes_of(ec2env.ec2.world) == []
    assert ec2env.live_instances() == []


def test_head_launches_in_the_zone_of_its_existing_volume(ec2env, tmp_path):
    cfg = ec2env.config("zoned", tmp_path / "zmnt")
    # The cluster's id exists once its state folder does.
    ec2env.run("status", cfg, "--json")
    cid = json.loads((ec2env.home / "zoned" / "cluster.json").read_text())["cluster_id"]
    made = ec2env.client().create_volume(
        AvailabilityZone="us-east-1b", Size=1, VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [
            {"Key": "ray-cluster-name", "Value": "zoned"}, {"Key": "raycluster-id", "Value": cid},
            {"Key": "raycluster-volume", "Value": "data"}]}])
    ec2env.run("up", cfg, "-y")
    head = ec2env.live_instances()[0]
    assert head["zone"] == "us-east-1b"
    vols = volumes_of(ec2env.ec2.world)
    assert [v["VolumeId"] for v in vols] == [made["VolumeId"]]
    assert vols[0]["Attachments"][0]["InstanceId"] == head["id"]


def test_emulator_refuses_an_attach_across_zones(ec2env):
    client = ec2env.client()
    vol = client.create_volume(AvailabilityZone="us-east-1c", Size=1)
    res = client.run_instances(ImageId="ami-0a1b2c3d4e5f60001", InstanceType="t3.micro", MinCount=1,
                               MaxCount=1, Placement={"AvailabilityZone": "us-east-1a"})
    iid = res["Instances"][0]["InstanceId"]
    client.get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    client.get_waiter("instance_running").wait(InstanceIds=[iid],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    with pytest.raises(Exception) as info:
        client.attach_volume(VolumeId=vol["VolumeId"], InstanceId=iid, Device="/dev/sdf")
    assert "InvalidVolume.ZoneMismatch" in str(info.value)
    client.terminate_instances(InstanceIds=[iid])
    client.delete_volume(VolumeId=vol["VolumeId"])
