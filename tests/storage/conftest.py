"""Fixtures of the storage suite: a CLI runner with its own RAYCLUSTER_HOME
that takes down (and deletes the volumes of) whatever a test left up."""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import ROOT, raycluster_binary  # noqa: E402


class Env:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.bin = raycluster_binary()
        self.env = dict(os.environ)
        self.env["RAYCLUSTER_HOME"] = str(self.home)
        self.env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{self.env.get('PATH', '')}"
        self.configs = []

    def config(self, text, name="cluster.yaml"):
        path = self.tmp / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        if path not in self.configs:
            self.configs.append(path)
        return path

    def run(self, *args, check=True, timeout=600, input=""):
        proc = subprocess.run([self.bin, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"raycluster {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def status(self, config):
        return json.loads(self.run("status", config, "--json").stdout)

    def cluster_dir(self, name):
        return self.home / name


@pytest.fixture
def rc(tmp_path):
    env = Env(tmp_path)
    yield env
    for cfg in env.configs:
        env.run("down", cfg, "-y", "--delete-storage", check=False)
