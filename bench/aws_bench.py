#!/usr/bin/env python3
"""`raycluster up` on EC2 (the emulator in tests/emulators): 1 worker vs 100.

For each size, against a fresh emulator with 200 ms added to every API call
and a 5 s boot (pending -> running; instances are real sshd hosts on
127.77.x.y, so setup really runs over SSH):

  * the EC2 API calls `up` makes, by action (goal: the same small number
    for 1 and 100 workers);
  * `up`'s wall time (goal: 100 workers within 1.3x of 1 worker);
  * the peak RSS of the raycluster process during that `up` (goal: < 64 MB).

Each node's setup is two short commands and `sleep WORK` standing for the
node's own work (package installs run on the node). Writes
bench/results/aws.json.

Usage: .venv/bin/python3 bench/aws_bench.py [--raycluster build/cli/raycluster]
       [--workers 100] [--latency-ms 200] [--boot-seconds 5] [--work-seconds 3]
"""
import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "emulators"))
from ec2 import Ec2Emulator  # noqa: E402


def config(path, ec2, key, workers, marks, work):
    path.write_text(textwrap.dedent(f"""
        cluster_name: bench
        max_workers: {workers}
        provider:
          type: aws
          region: us-east-1
          endpoint_url: {ec2.url}
          cache_stopped_nodes: false
        auth:
          ssh_user: {os.environ.get("USER") or "root"}
          ssh_private_key: {key}
          ssh_port: {ec2.ssh_port}
        available_node_types:
          head:
            resources: {{}}
            node_config: {{InstanceType: m5.large}}
          worker:
            min_workers: {workers}
            max_workers: {workers}
            resources: {{}}
            node_config: {{InstanceType: m5.large}}
        head_node_type: head
        setup_commands:
          - echo setup > {marks}/$RAY_CLOUD_INSTANCE_ID.setup
          - sleep {work}
        head_start_ray_commands:
          - echo head > {marks}/$RAY_CLOUD_INSTANCE_ID.start
        worker_start_ray_commands:
          - echo worker > {marks}/$RAY_CLOUD_INSTANCE_ID.start
        """).lstrip("\n"))


def run_child(argv, env):
    """Runs argv; returns (wall seconds, peak RSS MB, CPU seconds of that process).

    The peak is the process's own high-water mark (VmHWM, which starts
    afresh at exec), read until it exits: rusage from wait4 would also count
    the copy of this (large) Python process the child was forked from."""
    t0 = time.monotonic()
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
    hwm_kb = 0
    cpu_ticks = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm_kb = max(hwm_kb, int(line.split()[1]))
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                cpu_ticks = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.02)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        out.seek(0)
        err.seek(0)
        raise SystemExit(f"{argv} exited {proc.returncode}\n{out.read().decode()}\n"
                         f"{err.read().decode()}")
    return wall, hwm_kb / 1024.0, cpu_ticks / os.sysconf("SC_CLK_TCK")


def measure(a, workers, tmp):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"w{workers}-", dir=tmp))
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    marks = tmp / "marks"
    marks.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with Ec2Emulator(region="us-east-1", boot_seconds=a.boot_seconds, terminate_seconds=1.0,
                     ssh={"authorized_keys": (tmp / "id_ed25519.pub").read_text(),
                          "workdir": str(tmp / "hosts")}) as ec2:
        env.update({
            "RAYCLUSTER_HOME": str(tmp / "state"),
            "AWS_ACCESS_KEY_ID": ec2.access_key,
            "AWS_SECRET_ACCESS_KEY": ec2.secret_key,
            "AWS_CONFIG_FILE": str(tmp / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
            "RAYCLUSTER_CHECKIP_URL": f"{ec2.url}/_emulator/checkip",
            "AWS_ENDPOINT_URL_IAM": ec2.url,
        })
        env.pop("SSH_AUTH_SOCK", None)
        cfg = tmp / "cluster.yaml"
        config(cfg, ec2, key, workers, marks, a.work_seconds)
        ec2.set_faults({"latency_ms": a.latency_ms})
        ec2.reset_calls()
        wall, rss, cpu = run_child([a.raycluster, "up", str(cfg), "-y"], env)
        calls = collections.Counter(c["action"] for c in ec2.calls())
        started = len(list(marks.glob("*.start")))
        assert started == workers + 1, (started, workers)
        ec2.set_faults({})
        down_wall, _, _ = run_child([a.raycluster, "down", str(cfg), "-y"], env)
        left = [i["id"] for i in ec2.instances() if i["state"] not in ("terminated", "shutting-down")]
        assert not left, left
    return {"workers": workers, "up_s": round(wall, 2), "up_peak_rss_mb": round(rss, 1),
            "up_client_cpu_s": round(cpu, 2),
            "api_calls": sum(calls.values()), "api_calls_by_action": dict(sorted(calls.items())),
            "down_s": round(down_wall, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raycluster", default=str(ROOT / "build" / "cli" / "raycluster"))
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=200)
    ap.add_argument("--boot-seconds", type=float, default=5.0)
    ap.add_argument("--work-seconds", type=float, default=3.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "aws.json"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rc-aws-bench-") as tmp:
        one = measure(a, 1, tmp)
        many = measure(a, a.workers, tmp)
    result = {
        "what": f"raycluster up against the EC2 emulator: {a.latency_ms} ms per API call, "
                f"{a.boot_seconds} s boot, sshd-backed instances, setup = 2 commands + "
                f"sleep {a.work_seconds} s",
        "one_worker": one,
        f"{a.workers}_workers": many,
        "wall_ratio": round(many["up_s"] / one["up_s"], 3),
        "goals": {"wall_ratio": "<= 1.3", "api_calls": "same small number",
                  "up_peak_rss_mb": "< 64"},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    pathlib.Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
