#!/usr/bin/env python3
"""Wall-clock figures of the command line, written to bench/results/lifecycle.json.

  validate   `raycluster validate` of a large Ray-style config (generated: many
             node types, each with a provider-native node_config, resources
             and per-type commands), median of several runs, next to the
             time of a small config in the same run (the ratio is what to
             compare across machines).
  up         `raycluster up` of a localhost cluster of one head and four
             workers running real Ray (one run; `down` timed too).

Usage: .venv/bin/python3 bench/lifecycle_bench.py [--raycluster build/cli/raycluster]
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def big_config(path, types=2000):
    lines = [
        "cluster_name: big",
        "provider:",
        "  type: aws",
        "  region: us-west-2",
        "  availability_zone: us-west-2a,us-west-2b,us-west-2c",
        f"max_workers: {types * 4}",
        "head_node_type: head",
        "available_node_types:",
        "  head:",
        "    resources: {CPU: 8}",
        "    node_config:",
        "      InstanceType: m5.2xlarge",
        "      ImageId: ami-0123456789abcdef0",
    ]
    for i in range(types):
        lines += [
            f"  worker-{i}:",
            f"    min_workers: 0",
            f"    max_workers: 4",
            f"    resources: {{CPU: {1 + i % 64}, memory: {(i + 1) * 1024 ** 3}, custom_{i % 17}: 1}}",
            "    node_config:",
            f"      InstanceType: m5.{1 + i % 24}xlarge",
            "      ImageId: ami-0123456789abcdef0",
            "      BlockDeviceMappings:",
            "        - DeviceName: /dev/sda1",
            "          Ebs:",
            f"            VolumeSize: {100 + i}",
            "            VolumeType: gp3",
            "      InstanceMarketOptions:",
            "        MarketType: spot",
            "      TagSpecifications:",
            "        - ResourceType: instance",
            "          Tags:",
            f"            - {{Key: team, Value: t{i}}}",
            "    worker_setup_commands:",
            f"      - echo type {i} && pip install 'numpy>=1.{i % 30}'",
        ]
    lines += ["setup_commands:"] + [f"  - echo step {i}" for i in range(200)]
    path.write_text("\n".join(lines) + "\n")


def small_config(path):
    path.write_text("cluster_name: small\nprovider: {type: aws, region: us-east-1}\n")


def timed(cmd, env=None):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def bench_validate(binary, runs=7):
    with tempfile.TemporaryDirectory() as tmp:
        big = pathlib.Path(tmp) / "big.yaml"
        small = pathlib.Path(tmp) / "small.yaml"
        big_config(big)
        small_config(small)
        big_times = [timed([binary, "validate", big]) for _ in range(runs)]
        small_times = [timed([binary, "validate", small]) for _ in range(runs)]
        return {
            "config_bytes": big.stat().st_size,
            "node_types": 2001,
            "median_s": statistics.median(big_times),
            "small_config_median_s": statistics.median(small_times),
            "ratio_to_small": statistics.median(big_times) / statistics.median(small_times),
            "runs": runs,
        }


def bench_up(binary, workers=4):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = pathlib.Path(tmp) / "cluster.yaml"
        text = (ROOT / "examples" / "localhost" / "cluster.yaml").read_text()
        text = text.replace("cluster_name: localhost-demo", "cluster_name: bench-up")
        text = text.replace("initial_workers: 2", f"initial_workers: {workers}")
        cfg.write_text(text)
        env = dict(os.environ)
        env["RAYCLUSTER_HOME"] = str(pathlib.Path(tmp) / "state")
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"
        try:
            up = timed([binary, "up", cfg, "-y"], env)
            status = json.loads(subprocess.run([binary, "status", cfg, "--json"], env=env,
                                               check=True, capture_output=True,
                                               text=True).stdout)
            ready = sum(1 for n in status["nodes"] if n["status"] == "up-to-date")
        finally:
            down = timed([binary, "down", cfg, "-y"], env)
        return {"workers": workers, "nodes_up_to_date": ready, "up_s": up, "down_s": down}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raycluster", default=str(ROOT / "build" / "cli" / "raycluster"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "lifecycle.json"))
    args = ap.parse_args()
    result = {
        "machine": {"cpus": os.cpu_count()},
        "validate_large_ray_config": bench_validate(args.raycluster),
        "localhost_up_1_head_4_workers": bench_up(args.raycluster),
    }
    text = json.dumps(result, indent=2)
    pathlib.Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
