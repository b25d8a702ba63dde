"""`raycluster validate` from the command line: exit codes and output."""
import json
import os
import pathlib

from conftest import ROOT

FLAT = ROOT / "tests" / "configs" / "flat"


def test_tutorial_style_flat_configs_validate(rc):
    for name in ("aws.yaml", "gcp.yaml"):
        out = rc.run("validate", FLAT / name, "--json")
        spec = json.loads(out.stdout)
        assert spec["dialect"] == "flat"


def test_examples_validate(rc):
    examples = sorted((ROOT / "examples").glob("*/*.yaml"))
    assert len(examples) >= 5
    for path in examples:
        out = rc.run("validate", path, check=False)
        assert out.returncode == 0, f"{path}: {out.stderr}"


def test_a_fifo_as_config_is_refused_at_once(rc, tmp_path):
    fifo = tmp_path / "cluster.yaml"
    os.mkfifo(fifo)
    out = rc.run("validate", fifo, check=False, timeout=20)
    assert out.returncode == 1
    assert f"cannot read {fifo}: it is a FIFO" in out.stderr


def test_bad_config_reports_every_problem_with_location(rc):
    cfg = rc.config("""
        cluster_name: bad
        provider:
          type: localhost
        max_wokers: 3
        head_node_type: head
        available_node_types:
          head:
            resources: {CPU: 1}
            max_workers: -1
        """, "bad.yaml")
    out = rc.run("validate", cfg, check=False)
    assert out.returncode == 2
    lines = [l for l in out.stderr.splitlines() if "bad.yaml:" in l]
    assert len(lines) >= 2
    assert any("bad.yaml:4:" in l and "max_workers" in l for l in lines)  # did-you-mean
    assert any("bad.yaml:9:" in l for l in lines)

    js = json.loads(rc.run("validate", cfg, "--json", check=False).stdout)
    keys = {e["key"] for e in js["errors"]}
    assert "max_wokers" in keys
    assert all(e["line"] > 0 and e["column"] > 0 for e in js["errors"])


def test_up_with_a_bad_config_changes_nothing(rc):
    cfg = rc.config("cluster_name: x\nprovider: {type: localhost}\nmax_workers: lots\n", "x.yaml")
    out = rc.run("up", cfg, "-y", check=False)
    assert out.returncode == 2
    assert "x.yaml:3:" in out.stderr
    assert not (rc.home / "x").exists()
