#!/usr/bin/env python3
"""How long a cancel takes to end a running `up`: written to
bench/results/cancel.json.

A localhost cluster of shell-command nodes (no Ray) whose worker setup never
ends (`sleep 86400`); through the Python binding (the C ABI's
rc_operation_cancel), the up is cancelled once the worker is setting up, and
the time from the cancel to the operation's end is taken, as is the time
rc_operation_free takes to cancel and join a running up. The tests check
only that a cancel ends such an up, with the cancelled status
(tests/c/test_capi.c, tests/python/test_binding.py).

Usage: .venv/bin/python3 bench/cancel_bench.py [--runs N]
       [--library build/capi/libraycluster.so]
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

CONFIG = """
cluster_name: {name}
provider: {{type: localhost}}
autoscaler: local
max_workers: 1
head_node_type: head
available_node_types:
  head: {{resources: {{CPU: 1}}, min_workers: 0, max_workers: 0}}
  worker: {{resources: {{CPU: 1}}, min_workers: 1, max_workers: 1}}
worker_setup_commands: [sleep 86400]
head_start_ray_commands: ["nohup sleep 3600 > /dev/null 2>&1 &"]
worker_start_ray_commands: ["nohup sleep 3600 > /dev/null 2>&1 &"]
"""


def setting_up(events):
    return any(e.status == "setting-up" and e.node_type == "worker" for e in list(events))


def one_run(raycluster, tmp, i):
    cfg = pathlib.Path(tmp) / f"cancel{i}.yaml"
    cfg.write_text(CONFIG.format(name=f"cancel{i}"))
    events = []
    with raycluster.Cluster(cfg, state_root=pathlib.Path(tmp) / "state") as c:
        op = c.up(wait=False, on_event=events.append)
        deadline = time.monotonic() + 120
        while not setting_up(events) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the worker's sleep runs
        t0 = time.monotonic()
        op.cancel()
        try:
            op.wait(timeout=120)
            raise SystemExit("the up ended without being cancelled")
        except raycluster.Cancelled:
            pass
        cancel_s = time.monotonic() - t0
        op.close()
        events.clear()
        op = c.up(wait=False, on_event=events.append)
        deadline = time.monotonic() + 120
        while not setting_up(events) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        t0 = time.monotonic()
        op.close()  # rc_operation_free of a running operation: cancels and joins
        free_s = time.monotonic() - t0
        c.down()
    return cancel_s, free_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--library", default=str(ROOT / "build" / "capi" / "libraycluster.so"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cancel.json"))
    a = ap.parse_args()
    os.environ["RAYCLUSTER_LIBRARY"] = a.library
    sys.path.insert(0, str(ROOT / "bindings" / "python"))
    import raycluster
    cancels, frees = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.runs):
            c, f = one_run(raycluster, tmp, i)
            cancels.append(c * 1000)
            frees.append(f * 1000)
    result = {
        "runs": a.runs, "load_average": os.getloadavg(), "cores": os.cpu_count(),
        "cancel_to_end_ms": {"min": min(cancels), "median": statistics.median(cancels), "max": max(cancels)},
        "free_running_up_ms": {"min": min(frees), "median": statistics.median(frees), "max": max(frees)},
    }
    pathlib.Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
