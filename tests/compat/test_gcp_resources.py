"""Resources from the cloud on GCP. Ray's GCPNodeProvider.fillout_available_
node_types_resources fills nothing for Compute node types (it learns their
resources once a node runs); raycluster fills them up front from
machineTypes.get. Checked: every resource Ray's function leaves a type with
is in `raycluster status --json` with the same value (the config's own
values win), and the rest are what the emulator's machineTypes.get answer,
read with googleapiclient, gives under the rules the AWS provider uses
(CPU, workers' memory at 70%, GPUs, accelerator_type as Ray's NVIDIA manager
names the card)."""
import json
import os
import pathlib
import subprocess
import sys

import googleapiclient
import pytest
import yaml
from google.oauth2 import credentials as user_credentials
from googleapiclient import discovery

from conftest import ROOT, raycluster_binary

sys.path.insert(0, str(ROOT / "tests" / "emulators"))
from gcp import GceEmulator  # noqa: E402

from ray._private.accelerators.nvidia_gpu import NvidiaGPUAcceleratorManager  # noqa: E402
from ray.autoscaler._private import util as ray_util  # noqa: E402
from ray.autoscaler._private.gcp.node_provider import GCPNodeProvider  # noqa: E402

PROJECT, ZONE, TOKEN = "compat-project", "us-central1-a", "compat-token"
DOCUMENT = (pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
            / "compute.v1.json").read_text()
# What each Compute accelerator type's card calls itself (nvidia-smi).
CARDS = {"nvidia-tesla-a100": "NVIDIA A100-SXM4-40GB", "nvidia-l4": "NVIDIA L4", "nvidia-tesla-t4": "Tesla T4"}

CONFIG = """
cluster_name: gfill
provider: {{type: gcp, region: us-central1, availability_zone: {zone}, project_id: {project},
           endpoint_url: "{url}", gcp_credentials: {{type: credentials_token, credentials: {token}}}}}
auth: {{ssh_user: ubuntu, ssh_private_key: {key}}}
max_workers: 4
available_node_types:
  ray_head_default:
    resources: {{}}
    node_config: {{machineType: n2-standard-4}}
  a100:
    resources: {{}}
    node_config: {{machineType: a2-highgpu-1g}}
  t4:
    resources: {{CPU: 3, custom: 2}}
    node_config:
      machineType: n1-standard-8
      guestAccelerators: [{{acceleratorType: nvidia-tesla-t4, acceleratorCount: 2}}]
head_node_type: ray_head_default
"""


@pytest.fixture
def gce():
    with GceEmulator(project=PROJECT, region="us-central1", access_tokens=[TOKEN]) as emulator:
        yield emulator


def described(gce, machine, attached, head):
    client = discovery.build_from_document(DOCUMENT, credentials=user_credentials.Credentials(TOKEN),
                                           client_options={"api_endpoint": gce.api_endpoint})
    m = client.machineTypes().get(project=PROJECT, zone=ZONE, machineType=machine).execute()
    out = {"CPU": m["guestCpus"]}
    if not head:
        out["memory"] = int(m["memoryMb"] * 1024 * 1024 * 0.7)
    gpus = [(a["guestAcceleratorType"], a["guestAcceleratorCount"]) for a in m.get("accelerators", [])]
    gpus += attached
    if gpus:
        out["GPU"] = sum(n for _, n in gpus)
        out["accelerator_type:" + NvidiaGPUAcceleratorManager._gpu_name_to_accelerator_type(
            CARDS[gpus[0][0]])] = 1
    return out


def test_status_fills_what_ray_leaves_out_and_keeps_what_ray_keeps(gce, tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    text = CONFIG.format(zone=ZONE, project=PROJECT, url=gce.api_endpoint, token=TOKEN, key=key)
    path = tmp_path / "gfill.yaml"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update({"RAYCLUSTER_HOME": str(tmp_path / "state"), "GCE_METADATA_HOST": "127.0.0.1:9",
                "RAYCLUSTER_CHECKIP_URL": f"{gce.url}/_emulator/checkip"})
    out = subprocess.run([raycluster_binary(), "status", str(path), "--json"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ours = {name: t["resources"] for name, t in json.loads(out.stdout)["node_types"].items()}

    filled = GCPNodeProvider.fillout_available_node_types_resources(
        ray_util.prepare_config(yaml.safe_load(text)))
    ray = {name: t["resources"] for name, t in filled["available_node_types"].items()}
    for name, resources in ray.items():
        assert {k: ours[name][k] for k in resources} == resources, name

    assert ours["ray_head_default"] == described(gce, "n2-standard-4", [], head=True)
    assert ours["a100"] == described(gce, "a2-highgpu-1g", [], head=False)
    assert ours["t4"] == {**described(gce, "n1-standard-8", [("nvidia-tesla-t4", 2)], head=False),
                          "CPU": 3, "custom": 2}
