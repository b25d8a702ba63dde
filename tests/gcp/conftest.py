"""Fixtures for driving the raycluster command line against the Compute
Engine emulator.

Each test gets its own RAYCLUSTER_HOME, an SSH key, and a GceEmulator whose
running instances are real sshd servers on 127.79.x.y, so `up` really
connects and runs its commands. Nothing leaves this machine.
"""
import getpass
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
sys.path.insert(0, str(HERE.parents[1] / "aws"))
from rctest import ROOT, CliEnv, ssh_key  # noqa: E402,F401
from gcp import GceEmulator  # noqa: E402
from marked_config import write_config  # noqa: E402

TOKEN = "static-test-token"
PROJECT = "rc-test-project"
IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
NODE_CONFIG = ("{machineType: n1-standard-2, disks: [{boot: true, autoDelete: true, "
               "initializeParams: {sourceImage: " + IMAGE + "}}]}")


class GcpEnv(CliEnv):
    run_timeout = 300

    def __init__(self, tmp_path, gce):
        super().__init__(tmp_path, base={k: v for k, v in os.environ.items()
                                         if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_", "AWS_"))
                                         and k != "RAYCLUSTER_CHECKIP_URL"})
        self.gce = gce
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.key = tmp_path / "id_ed25519"
        self.user = getpass.getuser()  # the only user the emulator's sshd hosts log in
        self.env.update({
            "RAYCLUSTER_CHECKIP_URL": f"{gce.url}/_emulator/checkip",
            # Nothing may reach a real metadata server.
            "GCE_METADATA_HOST": "127.0.0.1:9",
        })
        self.env.pop("SSH_AUTH_SOCK", None)

    def provider(self, zones="us-central1-a,us-central1-b", **extra):
        p = {"type": "gcp", "region": "us-central1", "availability_zone": zones,
             "project_id": PROJECT, "endpoint_url": self.gce.api_endpoint,
             "gcp_credentials": "{type: credentials_token, credentials: " + TOKEN + "}"}
        p.update(extra)
        return p

    def config(self, name, workers=3, max_workers=6, autoscaler="local", **provider):
        """autoscaler: the config's `autoscaler` key; None leaves it out (its
        default, head: test_gcp_iam.py). These suites run it locally."""
        path = write_config(
            self.tmp / f"{name}.yaml", name, workers=workers, max_workers=max_workers,
            marks=self.marks, node_config=NODE_CONFIG, provider=self.provider(**provider),
            auth={"ssh_user": self.user, "ssh_private_key": self.key,
                  "ssh_port": self.gce.ssh_port})
        if autoscaler is not None:
            path.write_text(path.read_text() + f"autoscaler: {autoscaler}\n")
        return path



@pytest.fixture
def gcp(tmp_path):
    _, public = ssh_key(tmp_path)
    with GceEmulator(project=PROJECT, region="us-central1", access_tokens=[TOKEN],
                     provision_seconds=0.2, staging_seconds=0.2, stop_seconds=0.2,
                     delete_seconds=0.2, wait_seconds=2,
                     ssh={"authorized_keys": public, "workdir": str(tmp_path / "hosts")}) as gce:
        yield GcpEnv(tmp_path, gce)
        gce.set_faults({})
