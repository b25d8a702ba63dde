"""Fixtures for the Python binding's tests: the package from the checkout,
a state root per test, `ray` on PATH, and a check that every cluster a test
brought up is gone afterwards."""
import json
import os
import pathlib
import sys
import textwrap

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import ROOT, processes_with_marker  # noqa: E402

sys.path.insert(0, str(ROOT / "bindings" / "python"))
if "RAYCLUSTER_LIBRARY" not in os.environ and os.environ.get("RAYCLUSTER_LIB"):
    os.environ["RAYCLUSTER_LIBRARY"] = os.environ["RAYCLUSTER_LIB"]
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"
# In a sanitizer build the interpreter starts with ASan's runtime preloaded
# (tests/meson.build, python-asan); the processes the library starts for the
# nodes (bash, uptime, ...) are not under test and some hang under it, so
# they get the environment without it.
if os.environ.pop("RAYCLUSTER_TEST_UNPRELOAD_CHILDREN", None):
    os.environ.pop("LD_PRELOAD", None)

# Shell-command nodes: fast, no Ray. Worker setup sleeps RC_TEST_SETUP_DELAY.
SHELL_CLUSTER = """
cluster_name: {name}
provider:
  type: localhost
# No Ray on these nodes: no load for an autoscaler on the head to read.
autoscaler: local
max_workers: 4
head_node_type: head
available_node_types:
  head:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 0
  worker:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 3
    initial_workers: {workers}
setup_commands:
  - echo setup >> $RAYCLUSTER_NODE_DIR/setup.count
worker_setup_commands:
  - sleep {delay}
head_start_ray_commands:
  - nohup sleep 3600 > /dev/null 2>&1 &
worker_start_ray_commands:
  - nohup sleep 3600 > /dev/null 2>&1 &
"""


class Env:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.names = []

    def shell_config(self, name="shell", workers=1, delay=0):
        path = self.tmp / f"{name}.yaml"
        path.write_text(SHELL_CLUSTER.format(name=name, workers=workers, delay=delay))
        self.names.append(name)
        return path

    def cluster_id(self, name):
        path = self.home / name / "cluster.json"
        return json.loads(path.read_text())["cluster_id"] if path.exists() else None

    def assert_gone(self, name, config=None):
        import raycluster
        cid = self.cluster_id(name)
        assert cid, f"cluster {name} never opened"
        with raycluster.Cluster(config or self.tmp / f"{name}.yaml", state_root=self.home) as c:
            assert c.status()["nodes"] == []
        assert processes_with_marker(cid + "/") == []


@pytest.fixture
def rc(tmp_path, monkeypatch):
    env = Env(tmp_path)
    monkeypatch.setenv("RAYCLUSTER_HOME", str(env.home))
    yield env
    import raycluster
    for name in env.names:
        cfg = env.tmp / f"{name}.yaml"
        if env.cluster_id(name):
            with raycluster.Cluster(cfg, state_root=env.home) as c:
                c.down()
            env.assert_gone(name)


def dedent(text):
    return textwrap.dedent(text).lstrip("\n")
