"""Fixtures for driving the raycluster command line against localhost clusters.

Every test gets its own RAYCLUSTER_HOME, so clusters never see each other's
state, and a finalizer that takes whatever the test brought up down again.
"""
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import ROOT, processes_with_marker, raycluster_binary  # noqa: E402


class Env:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.bin = raycluster_binary()
        self.env = dict(os.environ)
        self.env["RAYCLUSTER_HOME"] = str(self.home)
        venv_bin = ROOT / ".venv" / "bin"
        self.env["PATH"] = f"{venv_bin}:{self.env.get('PATH', '')}"
        self.configs = []

    def config(self, text, name="cluster.yaml"):
        path = self.tmp / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        if path not in self.configs:
            self.configs.append(path)
        return path

    def run(self, *args, check=True, timeout=600, input=None):
        proc = subprocess.run(
            [self.bin, *map(str, args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"raycluster {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def popen(self, *args):
        return subprocess.Popen(
            [self.bin, *map(str, args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def status(self, config):
        return json.loads(self.run("status", config, "--json").stdout)

    def cluster_dir(self, name):
        return self.home / name

    def cluster_id(self, name):
        return json.loads((self.cluster_dir(name) / "cluster.json").read_text())["cluster_id"]

    def node_records(self, name):
        nodes = self.cluster_dir(name) / "nodes"
        if not nodes.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(nodes.glob("*.json"))]

    def wait_for(self, predicate, timeout=120, interval=0.2, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def rc(tmp_path):
    env = Env(tmp_path)
    yield env
    # Whatever a test left up is taken down, and nothing of it may remain.
    for cfg in env.configs:
        env.run("down", cfg, "-y", check=False)
