"""The EBS life-cycle against moto's EC2 server, a second peer.

moto keeps EBS volumes (CreateVolume with tags, DescribeVolumes by tag,
AttachVolume, DetachVolume, DeleteVolume) but backs them with nothing, and
its instances have made-up addresses. So, as in tests/aws/test_moto_peer.py,
every node is one local sshd reached through a relay; here that sshd runs in
a mount namespace of its own, and a watcher gives each volume moto says is
attached a loop device under its Nitro name in the sshd's /dev/disk/by-id.
What moto says about the volumes (through botocore) is what is checked.
"""
import getpass
import json
import pathlib
import shlex
import subprocess
import sys
import threading
import types

import pytest

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
sys.path.insert(0, str(HERE.parents[1] / "aws"))
from rctest import ROOT, raycluster_binary  # noqa: E402
from sshd import Sshd, make_user_key  # noqa: E402
from ec2.volumes import LoopBacking  # noqa: E402
from test_moto_peer import PYTHON, RELAY, REGION, Moto, an_image  # noqa: E402
from test_storage_ec2 import by_id_mountpoint  # noqa: E402,F401 - a fixture


class Watcher:
    """Links the loop device of every volume moto has attached into the
    sshd's by-id folder, and unlinks it when detached."""

    def __init__(self, ec2, host_dir, backing):
        self.ec2, self.host_dir, self.backing = ec2, host_dir, backing
        self.stop = threading.Event()
        self.linked = {}
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.2):
            try:
                volumes = self.ec2.describe_volumes()["Volumes"]
            except Exception:  # moto going away at the end
                continue
            seen = set()
            for v in volumes:
                vol = types.SimpleNamespace(id=v["VolumeId"], size=v["Size"])
                seen.add(vol.id)
                attached = any(a.get("State") == "attached" for a in v.get("Attachments", []))
                if attached and vol.id not in self.linked:
                    self.backing.link(vol, self.host_dir)
                    self.linked[vol.id] = vol
                elif not attached and vol.id in self.linked:
                    self.backing.unlink(self.linked.pop(vol.id), self.host_dir)
            for vid in list(self.linked):
                if vid not in seen:
                    vol = self.linked.pop(vid)
                    self.backing.unlink(vol, self.host_dir)
                    self.backing.delete(vol)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)


@pytest.fixture
def motoenv(tmp_path, by_id_mountpoint):  # noqa: F811
    moto = Moto(tmp_path)
    key, public = make_user_key(str(tmp_path / "user"))
    node_home = tmp_path / "node-home"
    node_home.mkdir()
    host_dir = tmp_path / "sshd"
    by_id, fstab = host_dir / "by-id", host_dir / "fstab"
    by_id.mkdir(parents=True)
    fstab.write_text("")
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" /dev/disk/by-id && mount --bind "$2" /etc/fstab && shift 2 && exec "$@"',
            "sh", str(by_id), str(fstab)]
    backing = LoopBacking(str(tmp_path / "disks"))
    sshd = Sshd(str(host_dir), addresses=["127.0.0.1"], authorized_keys=public,
                env={"HOME": str(node_home)}, wrap=wrap).start()
    watcher = Watcher(moto.client("ec2"), str(host_dir), backing)
    try:
        yield types.SimpleNamespace(moto=moto, sshd=sshd, key=key, tmp=tmp_path)
    finally:
        watcher.close()
        sshd.stop()
        backing.close()
        moto.close()


def test_ebs_lifecycle_on_moto(motoenv, tmp_path):
    moto = motoenv.moto
    ec2 = moto.client("ec2")
    home = tmp_path / "state"
    home.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    env.update({"RAYCLUSTER_HOME": str(home), "AWS_ACCESS_KEY_ID": moto.access_key,
                "AWS_SECRET_ACCESS_KEY": moto.secret_key,
                "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                "PATH": f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"})
    env.pop("SSH_AUTH_SOCK", None)
    relay = shlex.join([PYTHON, str(RELAY), str(motoenv.sshd.port), "127.0.0.1"])
    mnt = tmp_path / "mnt"
    cfg = tmp_path / "moto.yaml"
    cfg.write_text(f"""cluster_name: motovol
autoscaler: off
provider: {{type: aws, region: {REGION}, endpoint_url: "{moto.url}", ssh_allowed_cidrs: [127.0.0.1/32], cache_stopped_nodes: false}}
auth: {{ssh_user: {getpass.getuser()}, ssh_private_key: {motoenv.key}, ssh_proxy_command: {json.dumps(relay)}}}
head_node_type: head
available_node_types:
  head: {{resources: {{}}, node_config: {{ImageId: {an_image(ec2)}, InstanceType: m5.large}}}}
setup_commands: []
head_start_ray_commands: ["true"]
worker_start_ray_commands: ["true"]
storage:
  data: {{size_gb: 1, mount_path: {mnt}}}
""")

    def run(*args, check=True):
        p = subprocess.run([raycluster_binary(), *map(str, args)], env=env, capture_output=True,
                           text=True, timeout=180, input="")
        if check and p.returncode != 0:
            raise AssertionError(f"{args} exited {p.returncode}\n{p.stdout}\n{p.stderr}\n{moto.log_text()}")
        return p

    def ours():
        return ec2.describe_volumes(Filters=[{"Name": "tag:raycluster-volume", "Values": ["data"]},
                                             {"Name": "tag:ray-cluster-name", "Values": ["motovol"]}])["Volumes"]

    try:
        run("up", cfg, "-y")
        vols = ours()
        assert len(vols) == 1 and vols[0]["State"] == "in-use"
        assert vols[0]["Size"] == 1 and vols[0]["VolumeType"] == "gp3"
        run("exec", cfg, "--", f"echo kept > {mnt}/kept.txt")
        run("down", cfg, "-y")
        vols2 = ours()
        assert [v["VolumeId"] for v in vols2] == [vols[0]["VolumeId"]]
        assert vols2[0]["State"] == "available"
        run("up", cfg, "-y")
        assert run("exec", cfg, "--", f"cat {mnt}/kept.txt").stdout.strip() == "kept"
        assert [v["VolumeId"] for v in ours()] == [vols[0]["VolumeId"]]
        p = run("down", cfg, "--delete-storage", check=False)
        assert p.returncode == 1 and len(ours()) == 1
        run("down", cfg, "-y", "--delete-storage")
        assert ours() == []
    finally:
        run("down", cfg, "-y", "--delete-storage", check=False)
    live = ec2.describe_instances(Filters=[{"Name": "tag:ray-cluster-name", "Values": ["motovol"]},
                                           {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert all(not r["Instances"] for r in live["Reservations"])
    assert ours() == []
