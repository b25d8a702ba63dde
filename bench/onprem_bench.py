#!/usr/bin/env python3
"""Wall time of `raycluster up` on on-prem machines: 1 node vs 50 at once.

Each machine is a real OpenSSH server on a loopback address of its own (one
sshd per machine, its own home), as in tests/onprem. Every node runs the same
setup: a few short commands and `sleep` standing for the remote work of a real
setup (package installs run on the node, not here). The figure to compare is
the ratio of the 50-node time to the 1-node time, measured in one run; the goal
is 50 nodes within 1.5x the time of one. Client and "machines" share this
machine's cores, so the ratio also carries the servers' CPU cost, which real
machines would carry themselves.

Writes bench/results/onprem.json.

Usage: .venv/bin/python3 bench/onprem_bench.py [--raycluster build/cli/raycluster]
       [--nodes 50] [--work-seconds 3] [--runs 3]
"""
import argparse
import getpass
import json
import os
import pathlib
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from sshd import Sshd, free_port, make_user_key  # noqa: E402


def config(path, ips, key, port, work_seconds):
    workers = ", ".join(ips[1:])
    path.write_text(f"""cluster_name: onprem-bench
provider:
  type: local
  head_ip: {ips[0]}
  worker_ips: [{workers}]
  stop_commands: ["true"]
auth:
  ssh_user: {getpass.getuser()}
  ssh_private_key: {key}
  ssh_port: {port}
file_mounts:
  ~/mounted: {path.parent / "payload"}
initialization_commands:
  - mkdir -p ~/work
setup_commands:
  - echo setup > ~/work/setup.log
  - sleep {work_seconds}
  - cat ~/mounted/*.txt | wc -c > ~/work/payload-bytes
head_start_ray_commands:
  - echo head > ~/work/start.log
worker_start_ray_commands:
  - echo "worker $RAY_HEAD_IP" > ~/work/start.log
""")


def timed_up(binary, cfg, env):
    """Wall time of `up`, and the CPU seconds the raycluster process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([binary, "up", str(cfg), "-y"], env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"up failed:\n{r.stdout}\n{r.stderr}")
    subprocess.run([binary, "down", str(cfg), "-y"], env=env, check=True, capture_output=True)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raycluster", default=str(ROOT / "build" / "cli" / "raycluster"))
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--work-seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "onprem.json"))
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="rc-onprem-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        key, pub = make_user_key(str(tmp / "key"))
        payload = tmp / "payload"
        payload.mkdir()
        for i in range(20):
            (payload / f"f{i}.txt").write_text("x" * 4096)
        block = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        ips = [f"{block}.{i + 1}" for i in range(a.nodes)]
        port = free_port()
        servers = []
        try:
            for ip in ips:
                home = tmp / "machines" / ip
                home.mkdir(parents=True)
                servers.append(Sshd(str(tmp / "sshd" / ip), addresses=[ip], port=port,
                                    authorized_keys=pub, env={"HOME": str(home)}).start())
            env = dict(os.environ)
            env.pop("SSH_AUTH_SOCK", None)
            times = {1: [], a.nodes: []}
            cpu = {1: [], a.nodes: []}
            # Alternate the two sizes so that load changes hit both alike.
            for run in range(a.runs):
                for n in (1, a.nodes):
                    env["RAYCLUSTER_HOME"] = str(tmp / f"state-{n}-{run}")
                    cfg = tmp / f"cluster-{n}.yaml"
                    config(cfg, ips[:n], key, port, a.work_seconds)
                    wall, used = timed_up(a.raycluster, cfg, env)
                    times[n].append(wall)
                    cpu[n].append(used)
                    for ip in ips[:n]:
                        got = (tmp / "machines" / ip / "work" / "payload-bytes").read_text().strip()
                        assert got == str(20 * 4096), (ip, got)
        finally:
            for s in servers:
                s.close()

    one, many = statistics.median(times[1]), statistics.median(times[a.nodes])
    result = {
        "what": "raycluster up on on-prem machines (sshd on loopback), 1 node vs "
                f"{a.nodes} nodes, setup = file mount + 5 commands incl. sleep {a.work_seconds}s",
        "runs": a.runs,
        "up_1_node_s": round(one, 2),
        f"up_{a.nodes}_nodes_s": round(many, 2),
        "ratio": round(many / one, 3),
        "all_s": {str(k): [round(x, 2) for x in v] for k, v in times.items()},
        # CPU of the raycluster process alone (SSH client side); the rest of
        # the machine's CPU went to the 50 sshd "machines" and their shells.
        "client_cpu_s": {str(k): round(statistics.median(v), 2) for k, v in cpu.items()},
        "goal": "ratio <= 1.5",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    pathlib.Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
