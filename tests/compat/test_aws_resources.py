"""Resources from the cloud on AWS: node types whose resources the config
leaves out get CPU, GPU, accelerator_type:* and (workers) memory from EC2's
DescribeInstanceTypes, as Ray's AWSNodeProvider.fillout_available_node_types_
resources fills them. raycluster asks the EC2 emulator over its own SigV4
client; Ray's function is run on the same emulator's answer, read with
botocore, and `raycluster status --json` must show what Ray computed."""
import json
import os
import subprocess
import sys

import botocore.session
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "emulators"))
from ec2 import Ec2Emulator  # noqa: E402

import ray.autoscaler._private.aws.node_provider as ray_aws  # noqa: E402

CONFIG = """
cluster_name: fill
provider: {{type: aws, region: us-east-1, endpoint_url: "{url}"}}
auth: {{ssh_user: ubuntu, ssh_private_key: {key}}}
max_workers: 4
available_node_types:
  ray.head.default:
    node_config: {{InstanceType: m5.xlarge}}
  cpu:
    resources: {{}}
    node_config: {{InstanceType: c5.xlarge}}
  gpu:
    resources: {{CPU: 3, custom: 2}}
    node_config: {{InstanceType: g4dn.xlarge}}
head_node_type: ray.head.default
"""


@pytest.fixture
def ec2():
    with Ec2Emulator(region="us-east-1", boot_seconds=0.2, terminate_seconds=0.2) as emulator:
        yield emulator


def botocore_instance_types(ec2):
    client = botocore.session.get_session().create_client(
        "ec2", region_name="us-east-1", endpoint_url=ec2.url,
        aws_access_key_id=ec2.access_key, aws_secret_access_key=ec2.secret_key)
    return client.describe_instance_types()["InstanceTypes"]


def test_status_shows_the_resources_ray_fills_from_describe_instance_types(ec2, tmp_path,
                                                                        monkeypatch):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    path = tmp_path / "fill.yaml"
    text = CONFIG.format(url=ec2.url, key=key)
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"RAYCLUSTER_HOME": str(tmp_path / "state"),
                "AWS_ACCESS_KEY_ID": ec2.access_key, "AWS_SECRET_ACCESS_KEY": ec2.secret_key,
                "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    from conftest import raycluster_binary
    out = subprocess.run([raycluster_binary(), "status", str(path), "--json"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    ours = {name: t["resources"] for name, t in json.loads(out.stdout)["node_types"].items()}

    # Ray's own filling, on the emulator's answer as botocore reads it.
    import yaml
    from ray.autoscaler._private import util as ray_util
    config = ray_util.prepare_config(yaml.safe_load(text))
    monkeypatch.setattr(ray_aws, "list_ec2_instances",
                        lambda region, credentials=None: botocore_instance_types(ec2))
    filled = ray_aws.AWSNodeProvider.fillout_available_node_types_resources(config)
    ray = {name: t["resources"] for name, t in filled["available_node_types"].items()}
    assert ours == ray
    # Spelled out: the GPU type's own CPU wins, its GPU comes from EC2, and
    # the head has no memory resource (Ray fills memory for workers only).
    assert ours["gpu"]["CPU"] == 3 and ours["gpu"]["GPU"] == 1
    assert ours["gpu"]["accelerator_type:T4"] == 1
    assert "memory" not in ours["ray.head.default"] and ours["cpu"]["memory"] > 0

    # The answer is kept in the cluster's folder: a second status asks no more.
    cache = json.loads((tmp_path / "state" / "fill" / "instance_types.json").read_text())
    assert set(cache) == {"us-east-1/m5.xlarge", "us-east-1/c5.xlarge", "us-east-1/g4dn.xlarge"}
    asked = [c for c in ec2.calls()
             if c["action"] == "DescribeInstanceTypes" and "InstanceType.1" in c["params"]]
    assert len(asked) == 3  # ours: one per instance type (botocore asked for all)
    ec2.reset_calls()
    again = subprocess.run([raycluster_binary(), "status", str(path), "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert json.loads(again.stdout)["node_types"] == json.loads(out.stdout)["node_types"]
    assert not [c for c in ec2.calls() if c.get("action") == "DescribeInstanceTypes"]


def test_an_instance_type_the_region_lacks_is_named(ec2, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.format(url=ec2.url, key=tmp_path / "k").replace("c5.xlarge", "zz9.huge"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"RAYCLUSTER_HOME": str(tmp_path / "state"),
                "AWS_ACCESS_KEY_ID": ec2.access_key, "AWS_SECRET_ACCESS_KEY": ec2.secret_key,
                "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    from conftest import raycluster_binary
    out = subprocess.run([raycluster_binary(), "status", str(path), "--json"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "zz9.huge" in out.stderr
