"""The compatibility suite: Ray's own config code (installed in .venv) is the
reference. Each test writes a cluster YAML, has `raycluster validate --json`
normalise it and has Ray's prepare_config (fillout_defaults,
merge_setup_commands, fill_node_type_min_max_workers) and validate_config
(its ray-schema.json) read the same text, then compares what both made of it.
No Ray cluster is started.
"""
import copy
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import types

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import ROOT, raycluster_binary  # noqa: E402

from ray.autoscaler._private import util as ray_util  # noqa: E402
from ray.autoscaler._private.autoscaler import StandardAutoscaler  # noqa: E402
from ray.autoscaler.tags import TAG_RAY_USER_NODE_TYPE  # noqa: E402

RAY_SCHEMA = pathlib.Path(ray_util.__file__).resolve().parents[1] / "ray-schema.json"


class Validated:
    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stderr = proc.stderr
        self.spec = json.loads(proc.stdout) if proc.stdout.strip() else {}

    @property
    def ok(self):
        return self.returncode == 0

    def warned(self, key):
        return [w for w in self.spec.get("warnings", []) if w["key"] == key]

    def type(self, name):
        for t in self.spec["node_types"]:
            if t["name"] == name:
                return t
        raise KeyError(name)


class Compat:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.bin = raycluster_binary()
        self.env = dict(os.environ)
        self.env["RAYCLUSTER_HOME"] = str(tmp_path / "state")

    def write(self, text, name="cluster.yaml"):
        path = self.tmp / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def validate(self, text, name="cluster.yaml"):
        path = self.write(text, name) if isinstance(text, str) else text
        proc = subprocess.run([self.bin, "validate", str(path), "--json"], env=self.env,
                              capture_output=True, text=True, timeout=60)
        return Validated(proc)

    def ray(self, text, schema=True):
        """Ray's view: prepare_config, then its schema check, as `ray up` does."""
        config = yaml.safe_load(textwrap.dedent(text))
        prepared = ray_util.prepare_config(copy.deepcopy(config))
        if schema:
            ray_util.validate_config(copy.deepcopy(prepared))
        return prepared


def ray_node_commands(config, type_name):
    """The commands a worker of `type_name` runs, by Ray's own resolution
    (StandardAutoscaler._get_node_type_specific_fields)."""
    fake = types.SimpleNamespace(
        config=config,
        available_node_types=config["available_node_types"],
        provider=types.SimpleNamespace(node_tags=lambda _id: {TAG_RAY_USER_NODE_TYPE: type_name}),
    )
    field = lambda key: StandardAutoscaler._get_node_type_specific_fields(fake, "n", key)  # noqa: E731
    return {
        "initialization_commands": field("initialization_commands"),
        "setup_commands": field("worker_setup_commands"),
        "start_ray_commands": config["worker_start_ray_commands"],
    }


def ray_head_commands(config):
    """What Ray's get_or_create_head_node runs on the head."""
    return {
        "initialization_commands": config["initialization_commands"],
        "setup_commands": config["head_setup_commands"],
        "start_ray_commands": config["head_start_ray_commands"],
    }


@pytest.fixture
def compat(tmp_path):
    return Compat(tmp_path)


# Every command list given, so that the comparison is about how each side
# combines them, not about either side's defaults.
COMMANDS = """
initialization_commands: [echo init]
setup_commands: [echo setup]
head_setup_commands: [echo head-setup]
worker_setup_commands: [echo worker-setup]
head_start_ray_commands: [echo head-start]
worker_start_ray_commands: [echo worker-start]
"""

# Ray's provider defaults for cache_stopped_nodes (its AWS provider keeps
# stopped nodes unless told not to; its GCP provider only when told to).
RAY_CACHE_STOPPED_DEFAULT = {"aws": True, "gcp": False}


def assert_same_as_ray(v, ray, commands=True, skip_types=()):
    """The fields both sides normalise: cluster bounds and speeds, the head
    type, each type's bounds, resources and node_config, and what each kind
    of node runs."""
    assert v.ok, v.stderr
    s = v.spec
    assert s["max_workers"] == ray["max_workers"]
    assert s["upscaling_speed"] == ray["upscaling_speed"]
    assert s["idle_timeout_minutes"] == ray["idle_timeout_minutes"]
    assert s["head_node_type"] == ray["head_node_type"]
    assert sorted(t["name"] for t in s["node_types"]) == sorted(ray["available_node_types"])
    kind = ray["provider"]["type"]
    if kind in RAY_CACHE_STOPPED_DEFAULT:
        want = ray["provider"].get("cache_stopped_nodes", RAY_CACHE_STOPPED_DEFAULT[kind])
        assert s["provider"]["cache_stopped_nodes"] == want
    for name, rt in ray["available_node_types"].items():
        if name in skip_types:
            continue
        t = v.type(name)
        assert t["min_workers"] == rt["min_workers"], name
        assert t["max_workers"] == rt["max_workers"], name
        if rt.get("resources"):
            assert t["resources"] == rt["resources"], name
        assert t["node_config"] == rt["node_config"], name
        if commands:
            want = (ray_head_commands(ray) if name == ray["head_node_type"]
                    else ray_node_commands(ray, name))
            assert t["commands"] == want, name
