"""bench/trace_replay.py end to end, short: one small trace (40 tasks) on Ray's
own autoscaler (v1, fake multi-node provider) and on a raycluster localhost
cluster, one after the other. Checks only that the replay completes and that
its report is whole: every field for both autoscalers, every task started and
ended, every node launched terminated, nothing of either cluster left running.
No performance assertion (figures: bench/README.md, "trace-replay")."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "trace_replay.py"
TRACE = ROOT / "bench" / "traces" / "replay_small.jsonl"
sys.path.insert(0, str(ROOT / "bench"))
import trace_replay  # noqa: E402

FIELDS = ("tasks", "tasks_started", "tasks_ended", "tasks_failed", "node_seconds", "node_seconds_wall",
          "ready_node_seconds", "launches", "failed_launches",
          "terminations", "nodes_not_terminated", "p50_wait_s", "p99_wait_s", "max_wait_s", "mean_wait_s",
          "launch_to_ready_wall_s_median", "wall_s", "cluster_up_wall_s", "processes_left", "load_avg_1m",
          "nodes")


def test_trace_formats_read_alike(tmp_path):
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('# a comment\n{"trace": {"name": "x", "idle_timeout_s": 60, '
                     '"node_types": {"g": {"resources": {"CPU": 2, "GPU": 1}, "max_workers": 2}}}}\n\n'
                     '{"arrival_s": 3, "duration_s": 1.5, "resources": {"CPU": 1, "GPU": 1}}\n'
                     '{"arrival_s": 1, "duration_s": 2, "resources": {"CPU": 2}}\n')
    csv = tmp_path / "t.csv"
    csv.write_text("arrival_s,duration_s,resources\n# c\n3,1.5,CPU=1;GPU=1\n\n1,2,CPU=2\n")
    h, a = trace_replay.read_trace(jsonl)
    _, b = trace_replay.read_trace(csv)
    assert h["name"] == "x" and h["idle_timeout_s"] == 60
    assert h["node_types"]["g"] == {"resources": {"CPU": 2.0, "GPU": 1.0}, "max_workers": 2}
    assert a == b
    assert [t["arrival_s"] for t in a] == [1.0, 3.0]  # sorted by arrival
    assert a[1]["resources"] == {"CPU": 1.0, "GPU": 1.0}


@pytest.mark.parametrize("text, message", [
    ('{"arrival_s": 1, "duration_s": -2, "resources": {"CPU": 1}}\n', ":1: duration_s: must be"),
    ('{"arrival_s": 1, "resources": {"CPU": 1}}\n', ":1: missing key 'duration_s'"),
    ('{"arrival_s": 1, "duration_s": 2, "resources": {"CPU": 1}}\n{"trace": {}}\n', ":2: the trace header"),
    ("arrival_s,duration_s,resources\n1,2,CPU\n", ":2: resources: 'CPU' is not NAME=AMOUNT"),
    ("arrival,duration\n", ":1: CSV header must be"),
    ('{"arrival_s": 1, "duration_s": 2, "resources": {"CPU": 64}}\n', "fits no node type"),
])
def test_bad_traces_are_refused_naming_the_line(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    p = subprocess.run([sys.executable, str(SCRIPT), "--trace", str(path), "--out", str(tmp_path / "o.json")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert str(path) in p.stderr and message in p.stderr, p.stderr
    assert not (tmp_path / "o.json").exists()


def test_short_replay_reports_both_autoscalers_whole(tmp_path):
    out = tmp_path / "replay.json"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable, str(SCRIPT), "--trace", str(TRACE), "--time-scale", "0.03",
                        "--max-workers", "2", "--settle", "60", "--autoscalers", "ray-v1,raycluster",
                        "--out", str(out)], env=env, capture_output=True, text=True, timeout=1500)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(out.read_text())
    (w,) = doc["workloads"]
    assert w["workload"] == "replay_small" and w["tasks"] == 40 and w["time_scale"] == 0.03
    assert "source" in w["trace_sim"]
    runs = {r["autoscaler"]: r for r in w["runs"]}
    assert set(runs) == {"ray-v1", "raycluster"}, w["runs"]
    for name, r in runs.items():
        assert "error" not in r, (name, r.get("error"))
        missing = [f for f in FIELDS if f not in r or r[f] is None]
        assert not missing, (name, missing, r)
        assert r["tasks_started"] == r["tasks_ended"] == 40 and r["tasks_failed"] == 0, (name, r)
        assert r["launches"] >= 1 and r["terminations"] == r["launches"], (name, r)
        assert r["nodes_not_terminated"] == 0 and r["processes_left"] == 0, (name, r)
        for n in r["nodes"]:
            assert n.get("launch") is not None and (n.get("terminate") or n.get("gone")) is not None, (name, n)
        assert r["node_seconds"] > 0 and r["max_wait_s"] >= r["p99_wait_s"] >= r["p50_wait_s"] >= 0
    assert set(w["comparison"]) >= {"raycluster_vs_ray-v1"}
