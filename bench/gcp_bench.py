#!/usr/bin/env python3
"""`raycluster up` on Compute Engine (the emulator in tests/emulators/gcp):
1 worker vs 100.

For each size, against a fresh emulator with 200 ms added to every API call
and launch operations (insert, bulkInsert) that take 20 s (instances are real
sshd hosts on 127.79.x.y, so setup really runs over SSH):

  * the Compute API calls `up` makes, by method, operation waits counted
    separately (goal: the same small number for 1 and 100 workers);
  * `up`'s wall time (goal: 100 workers within 1.3x of 1 worker);
  * the peak RSS of the raycluster process during that `up` (goal: < 64 MB).

Each node's setup is two short commands and `sleep WORK` standing for the
node's own work (package installs run on the node). Writes
bench/results/gcp.json. Listing 10,000 instances is measured by
bench/gcp_list_bench.cpp.

Usage: .venv/bin/python3 bench/gcp_bench.py [--raycluster build/cli/raycluster]
       [--workers 100] [--latency-ms 200] [--operation-seconds 20] [--work-seconds 3]
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
from gcp import GceEmulator  # noqa: E402

TOKEN = "bench-token"


def config(path, gce, key, workers, marks, work):
    path.write_text(textwrap.dedent(f"""
        cluster_name: bench
        max_workers: {workers}
        provider:
          type: gcp
          project_id: {gce.project}
          region: {gce.region}
          availability_zone: {gce.region}-a
          endpoint_url: {gce.api_endpoint}
          gcp_credentials: {{type: credentials_token, credentials: {TOKEN}}}
        auth:
          ssh_user: {os.environ.get("USER") or "root"}
          ssh_private_key: {key}
          ssh_port: {gce.ssh_port}
        available_node_types:
          head:
            resources: {{}}
            node_config: {{machineType: e2-micro, disks: [{{boot: true, autoDelete: true, initializeParams: {{sourceImage: projects/debian-cloud/global/images/family/debian-12}}}}]}}
          worker:
            min_workers: {workers}
            max_workers: {workers}
            resources: {{}}
            node_config: {{machineType: e2-micro, disks: [{{boot: true, autoDelete: true, initializeParams: {{sourceImage: projects/debian-cloud/global/images/family/debian-12}}}}]}}
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_"))}
    with GceEmulator(project="bench-project", region="us-central1", access_tokens=[TOKEN],
                     ssh={"authorized_keys": (tmp / "id_ed25519.pub").read_text(),
                          "workdir": str(tmp / "hosts")}) as gce:
        env.update({
            "RAYCLUSTER_HOME": str(tmp / "state"),
            "RAYCLUSTER_CHECKIP_URL": f"{gce.url}/_emulator/checkip",
            "GCE_METADATA_HOST": "127.0.0.1:9",
        })
        env.pop("SSH_AUTH_SOCK", None)
        cfg = tmp / "cluster.yaml"
        config(cfg, gce, key, workers, marks, a.work_seconds)
        gce.set_faults({"latency_ms": a.latency_ms,
                        "operation_delay_seconds": {"instances.insert": a.operation_seconds,
                                                    "instances.bulkInsert": a.operation_seconds}})
        gce.reset_calls()
        wall, rss, cpu = run_child([a.raycluster, "up", str(cfg), "-y"], env)
        calls = collections.Counter(c.get("method", c.get("path")) for c in gce.calls())
        waits = sum(n for m, n in calls.items() if str(m).endswith("Operations.wait"))
        started = len(list(marks.glob("*.start")))
        assert started == workers + 1, (started, workers)
        gce.set_faults({})
        down_wall, _, _ = run_child([a.raycluster, "down", str(cfg), "-y"], env)
        left = [i["name"] for i in gce.instances()]
        assert not left, left
        assert not gce.firewalls()
    return {"workers": workers, "up_s": round(wall, 2), "up_peak_rss_mb": round(rss, 1),
            "up_client_cpu_s": round(cpu, 2),
            "api_calls": sum(calls.values()) - waits, "operation_waits": waits,
            "api_calls_by_method": dict(sorted((str(k), v) for k, v in calls.items())),
            "down_s": round(down_wall, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raycluster", default=str(ROOT / "build" / "cli" / "raycluster"))
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=200)
    ap.add_argument("--operation-seconds", type=float, default=20.0)
    ap.add_argument("--work-seconds", type=float, default=3.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gcp.json"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rc-gcp-bench-") as tmp:
        one = measure(a, 1, tmp)
        many = measure(a, a.workers, tmp)
    listing = None
    list_bench = ROOT / "build" / "bench" / "gcp" / "gcp-list-bench"
    if list_bench.exists():
        listing = json.loads(subprocess.run([str(list_bench), "10000"], check=True,
                                            capture_output=True, text=True).stdout)
    result = {
        "what": f"raycluster up against the Compute emulator: {a.latency_ms} ms per API call, "
                f"{a.operation_seconds} s launch operations, sshd-backed instances, setup = 2 commands + "
                f"sleep {a.work_seconds} s",
        "one_worker": one,
        f"{a.workers}_workers": many,
        "wall_ratio": round(many["up_s"] / one["up_s"], 3),
        "list_10000_instances": listing,
        "goals": {"wall_ratio": "<= 1.3", "api_calls": "same small number",
                  "up_peak_rss_mb": "< 64"},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    pathlib.Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
