"""Real Ray on localhost nodes: the README's example brings up a head and two
workers; Ray itself must see three nodes with the configured resources, run
work on the workers, and nothing of the cluster may survive `down`."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, processes_with_marker

EXAMPLE = ROOT / "examples" / "localhost" / "cluster.yaml"

PROBE = r"""
import json, os, ray
ray.init(address=os.environ["RAY_HEAD_IP"] + ":" + os.environ["RAYCLUSTER_GCS_PORT"],
         logging_level="ERROR")
nodes = [n for n in ray.nodes() if n["Alive"]]

@ray.remote(resources={"demo_slot": 1}, num_cpus=1)
def where():
    return ray.util.get_node_ip_address()

placed = ray.get([where.remote() for _ in range(4)])
print(json.dumps({
    "nodes": sorted((n["NodeManagerAddress"], n["Resources"].get("CPU", 0),
                     n["Resources"].get("demo_slot", 0)) for n in nodes),
    "total": ray.cluster_resources(),
    "placed": sorted(set(placed)),
}))
"""


def ray_processes_of(temp_dir):
    """Ray daemons whose command line names this cluster's temp folder."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if temp_dir.encode() in cmd:
            out.append(int(entry))
    return out


@pytest.mark.once
def test_example_cluster_runs_real_ray(rc):
    rc.configs.append(EXAMPLE)
    rc.run("up", EXAMPLE, "-y", timeout=900)
    st = rc.status(EXAMPLE)
    heads = [n for n in st["nodes"] if n["kind"] == "head"]
    workers = [n for n in st["nodes"] if n["kind"] == "worker"]
    assert len(heads) == 1 and len(workers) == 2
    assert all(n["status"] == "up-to-date" for n in st["nodes"])

    out = rc.run("exec", EXAMPLE, "--", "python", "-c", repr_cmd(PROBE))
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # Ray itself sees the three nodes with the resources the config gave them.
    expected = sorted([(heads[0]["internal_ip"], 1.0, 0)] +
                      [(w["internal_ip"], 2.0, 1.0) for w in workers])
    assert [tuple(n) for n in report["nodes"]] == expected
    assert report["total"]["CPU"] == 5.0
    assert report["total"]["demo_slot"] == 2.0
    # Work that needs a worker's resource ran on the workers.
    assert set(report["placed"]) <= {w["internal_ip"] for w in workers}
    assert report["placed"]

    cid = rc.cluster_id("localhost-demo")
    temp_dir = "/tmp/raycluster-" + cid[:12]
    assert ray_processes_of(temp_dir)
    rc.run("down", EXAMPLE, "-y")
    assert processes_with_marker(cid + "/") == []
    assert ray_processes_of(temp_dir) == []
    assert not os.path.exists(temp_dir)


def repr_cmd(script):
    # One shell word: single-quoted for bash.
    return "'" + script.replace("'", "'\\''") + "'"
