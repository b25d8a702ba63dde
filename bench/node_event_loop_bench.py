#!/usr/bin/env python3
"""How smoothly the Node example's event loop runs while raycluster works:
written to bench/results/node_event_loop.json.

examples/node/up_events.js brings up the localhost cluster of
examples/c/cluster.yaml (real Ray: a head and one worker) through the C ABI,
then takes it down, while a 10 ms timer keeps the largest gap between two of
its ticks. A lone Node timer (node_ticker.js) runs beside it as the control:
Ray starting on the same cores delays every process now and then, and the
control's gap is that floor. A second run cancels the up after 1.5 s.

Each figure is per run; on a loaded machine they vary by several times, so
compare the example's gap with the control's of the same run. The tests
(tests/python/test_examples.py) check only the behaviour: the loop ticked
while the operation ran.

Usage: .venv/bin/python3 bench/node_event_loop_bench.py [--runs N]
       [--library build/capi/libraycluster.so]
(examples/node needs `npm ci` first.)
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "examples" / "node"
CONFIG = ROOT / "examples" / "c" / "cluster.yaml"


def one_run(library, extra):
    control = subprocess.Popen(["node", str(ROOT / "bench" / "node_ticker.js")],
                               stdout=subprocess.PIPE, text=True)
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, RAYCLUSTER_HOME=home, RAYCLUSTER_LIBRARY=str(library),
                   PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        try:
            proc = subprocess.run(["node", "up_events.js", str(CONFIG), *extra], cwd=NODE_DIR, env=env,
                                  capture_output=True, text=True, timeout=900)
        finally:
            control.terminate()
            control_out = control.communicate(timeout=30)[0]
    if proc.returncode != 0:
        raise SystemExit(f"up_events.js exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")

    def figure(pattern, text):
        return float(re.search(pattern, text).group(1))

    return {
        "args": extra,
        "max_gap_ms_up": figure(r"max event-loop gap during up: ([\d.]+) ms", proc.stdout),
        "max_gap_ms_down": figure(r"max event-loop gap during down: ([\d.]+) ms", proc.stdout),
        "control_max_gap_ms": figure(r"control max gap: ([\d.]+) ms", control_out),
        "events_during_up": int(figure(r"events received during up: (\d+)", proc.stdout)),
        "up_seconds": figure(r"up ended: .* after ([\d.]+) s", proc.stdout),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--library", default=str(ROOT / "build" / "capi" / "libraycluster.so"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "node_event_loop.json"))
    a = ap.parse_args()
    runs = []
    for _ in range(a.runs):
        runs.append(one_run(a.library, []))
        runs.append(one_run(a.library, ["--cancel-after-ms", "1500"]))
    result = {"load_average": os.getloadavg(), "cores": os.cpu_count(), "runs": runs}
    pathlib.Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
