#!/usr/bin/env python3
"""`up` of a localhost cluster of one head and 3 workers (real Ray), workers
starting Ray one at a time vs at once, runs alternated.

Serial: the worker `ray start` without --temp-dir (the provider then holds
its start lock: the workers would share the head's session folder). Parallel:
with --temp-dir=$RAYCLUSTER_NODE_RAY_TEMP_DIR (the default commands since
workers have folders of their own). Same binary, same machine, A B A B.
Writes bench/results/parallel_boot.json."""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEMP_DIR_ARG = "    --temp-dir=$RAYCLUSTER_NODE_RAY_TEMP_DIR\n"


def load1():
    return os.getloadavg()[0]


def up_once(binary, parallel, workers):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = pathlib.Path(tmp) / "cluster.yaml"
        text = (ROOT / "examples" / "localhost" / "cluster.yaml").read_text()
        assert TEMP_DIR_ARG in text
        if not parallel:
            text = text.replace(TEMP_DIR_ARG, "")
        text = text.replace("cluster_name: localhost-demo", "cluster_name: bench-boot")
        text = text.replace("initial_workers: 2", f"initial_workers: {workers}")
        text = text.replace("min_workers: 0\n    max_workers: 4", f"min_workers: {workers}\n    max_workers: 4")
        cfg.write_text(text)
        env = dict(os.environ)
        env["RAYCLUSTER_HOME"] = str(pathlib.Path(tmp) / "state")
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"
        load_before = load1()
        t0 = time.monotonic()
        try:
            subprocess.run([binary, "up", str(cfg), "-y"], env=env, check=True, capture_output=True)
            up = time.monotonic() - t0
            st = json.loads(subprocess.run([binary, "status", str(cfg), "--json"], env=env, check=True,
                                           capture_output=True, text=True).stdout)
            ready = sum(1 for n in st["nodes"] if n["status"] == "up-to-date")
            alive = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "python"), "-c",
                 "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
                 "print(sum(1 for n in ray.nodes() if n['Alive']))",
                 subprocess.run([binary, "get-head-ip", str(cfg)], env=env, capture_output=True,
                                text=True).stdout.strip() + ":" + str(json.loads(
                                    (pathlib.Path(tmp) / "state" / "bench-boot" / "localhost.json")
                                    .read_text())["gcs_port"])],
                env=env, capture_output=True, text=True, timeout=120).stdout.strip()
        finally:
            subprocess.run([binary, "down", str(cfg), "-y"], env=env, capture_output=True)
        return {"up_s": round(up, 2), "nodes_up_to_date": ready, "ray_nodes_alive": int(alive or 0),
                "load1_before": round(load_before, 2), "load1_after": round(load1(), 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raycluster", default=str(ROOT / "build" / "cli" / "raycluster"))
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "parallel_boot.json"))
    args = ap.parse_args()
    runs = {"serial": [], "parallel": []}
    for _ in range(args.runs):
        for kind in ("serial", "parallel"):
            r = up_once(args.raycluster, kind == "parallel", args.workers)
            print(kind, r, file=sys.stderr, flush=True)
            runs[kind].append(r)
    med = {k: statistics.median(r["up_s"] for r in v) for k, v in runs.items()}
    result = {"workers": args.workers, "cpus": os.cpu_count(), "runs": runs,
              "up_s_median": med, "parallel_over_serial": round(med["parallel"] / med["serial"], 3)}
    pathlib.Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
