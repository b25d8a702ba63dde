"""Fixtures for driving the raycluster command line against the EC2 emulator.

Each test gets its own RAYCLUSTER_HOME, an SSH key, and an Ec2Emulator whose
running instances are real sshd servers on 127.77.x.y, so `up` really
connects and runs its commands. Nothing leaves this machine.
"""
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
from rctest import CliEnv, ssh_key  # noqa: E402
from ec2 import Ec2Emulator  # noqa: E402
from marked_config import write_config  # noqa: E402


class AwsEnv(CliEnv):
    def __init__(self, tmp_path, ec2):
        super().__init__(tmp_path, base={k: v for k, v in os.environ.items()
                                         if not k.startswith("AWS_") and k != "RAYCLUSTER_CHECKIP_URL"})
        self.ec2 = ec2
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.key = tmp_path / "id_ed25519"
        self.env.update({
            "AWS_ACCESS_KEY_ID": ec2.access_key,
            "AWS_SECRET_ACCESS_KEY": ec2.secret_key,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            # The emulator answers what checkip.amazonaws.com would.
            "RAYCLUSTER_CHECKIP_URL": f"{ec2.url}/_emulator/checkip",
            # IAM (the head's role) is the emulator's too.
            "AWS_ENDPOINT_URL_IAM": ec2.url,
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



@pytest.fixture
def aws(tmp_path):
    _, public = ssh_key(tmp_path)
    with Ec2Emulator(region="us-east-1", boot_seconds=0.5, terminate_seconds=0.5,
                     ssh={"authorized_keys": public, "workdir": str(tmp_path / "hosts")}) as ec2:
        env = AwsEnv(tmp_path, ec2)
        yield env
        # Whatever a failed test left: end it, so no sshd outlives the test.
        ec2.set_faults({})
