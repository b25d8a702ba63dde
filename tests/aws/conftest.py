"""Fixtures for driving the raycluster command line against the EC2 emulator.

Each test gets its own RAYCLUSTER_HOME, an SSH key, and an Ec2Emulator whose
running instances are real sshd servers on 127.77.x.y, so `up` really
connects and runs its commands. Nothing leaves this machine.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
from rctest import ROOT, raycluster_binary  # noqa: E402
from ec2 import Ec2Emulator  # noqa: E402
from marked_config import write_config  # noqa: E402


class AwsEnv:
    def __init__(self, tmp_path, ec2):
        self.tmp = tmp_path
        self.ec2 = ec2
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
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
            # The emulator answers what checkip.amazonaws.com would.
            "RAYCLUSTER_CHECKIP_URL": f"{ec2.url}/_emulator/checkip",
            # IAM (the head's role) is the emulator's too.
            "AWS_ENDPOINT_URL_IAM": ec2.url,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        })
        self.env.pop("SSH_AUTH_SOCK", None)

    def config(self, name, workers=3, max_workers=6, cache_stopped_nodes=False, autoscaler="local"):
        # The instances run no Ray: unless a test is about the head
        # autoscaler, the autoscaler runs only where `monitor` runs.
        return write_config(
            self.tmp / f"{name}.yaml", name, workers=workers, max_workers=max_workers,
            marks=self.marks, node_config="{InstanceType: m5.large}",
            provider={"type": "aws", "region": "us-east-1", "endpoint_url": self.ec2.url,
                      "cache_stopped_nodes": str(cache_stopped_nodes).lower()},
            autoscaler=autoscaler,
            auth={"ssh_user": "root", "ssh_private_key": self.key,
                  "ssh_port": self.ec2.ssh_port})

    def run(self, *args, check=True, timeout=600):
        proc = subprocess.run([self.bin, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"raycluster {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def status(self, config):
        return json.loads(self.run("status", config, "--json").stdout)


@pytest.fixture
def aws(tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = (tmp_path / "id_ed25519.pub").read_text()
    with Ec2Emulator(region="us-east-1", boot_seconds=0.5, terminate_seconds=0.5,
                     ssh={"authorized_keys": public, "workdir": str(tmp_path / "hosts")}) as ec2:
        env = AwsEnv(tmp_path, ec2)
        yield env
        # Whatever a failed test left: end it, so no sshd outlives the test.
        ec2.set_faults({})
