"""Fixtures for driving the raycluster command line against localhost clusters.

Every test gets its own RAYCLUSTER_HOME, so clusters never see each other's
state, and a finalizer that takes whatever the test brought up down again.
"""
import json
import pathlib
import sys
import textwrap

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import ROOT, CliEnv, processes_with_marker, wait_for  # noqa: E402,F401


class Env(CliEnv):
    def config(self, text, name="cluster.yaml"):
        path = self.tmp / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        if path not in self.configs:
            self.configs.append(path)
        return path

    def node_records(self, name):
        nodes = self.cluster_dir(name) / "nodes"
        if not nodes.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(nodes.glob("*.json"))]

    def wait_for(self, predicate, timeout=120, interval=0.2, what="condition"):
        return wait_for(predicate, timeout, what, interval=interval)


@pytest.fixture
def rc(tmp_path):
    env = Env(tmp_path)
    yield env
    # Whatever a test left up is taken down, and nothing of it may remain.
    env.down_all()
