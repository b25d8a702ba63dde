"""Draining before ending an idle worker, on real Ray.

* DrainNode through the library's gRPC code (drain-node-tool) against a real
  GCS: a worker running a task is refused, an idle one accepted, and a task
  submitted afterwards does not go to the accepted one.
* `raycluster monitor` with a short idle timeout and tasks arriving around
  it: no task dies with its node, and a worker whose drain was refused (or
  that a fresh report showed busy) keeps running."""
import json
import os
import random
import subprocess
import time

DRIVER_DRAIN = r"""
import json, subprocess, sys, time, ray, ray.util.state
gcs, tool = sys.argv[1], sys.argv[2]
ray.init(address=gcs, logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=1, max_retries=0)
def hold(s):
    time.sleep(s)
    return ray.get_runtime_context().get_node_id()

def drain(*nodes):
    # One process, one transport: the requests follow each other on it.
    out = subprocess.run([tool, "http://" + gcs, *nodes], capture_output=True, text=True, check=True)
    return [json.loads(l) for l in out.stdout.splitlines()]

workers = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) >= 1]
busy_ref = hold.remote(12)
deadline = time.time() + 60
while time.time() < deadline:
    running = [t for t in ray.util.state.list_tasks(filters=[("state", "=", "RUNNING")])]
    if running:
        break
    time.sleep(0.2)
busy = running[0].node_id
idle = [w for w in workers if w != busy][0]
busy_answer, idle_answer = drain(busy, idle)
later = hold.remote(0.1)
print(json.dumps({"workers": workers, "busy": busy, "idle": idle, "busy_answer": busy_answer,
                  "idle_answer": idle_answer, "held_on": ray.get(busy_ref, timeout=120),
                  "later_on": ray.get(later, timeout=120)}), flush=True)
"""


def two_worker_config(rc, idle_minutes=None, workers=2):
    cfg = rc.config()
    text = cfg.read_text().replace("min_workers: 0\n    max_workers: 3\n    initial_workers: 0",
                                   f"min_workers: {workers}\n    max_workers: 3\n    initial_workers: {workers}", 1)
    text = text.replace("resources: {CPU: 2, demo_slot: 1}", "resources: {CPU: 1, demo_slot: 1}", 1)
    text = text.replace("resources: {CPU: 1}\n", "resources: {CPU: 0}\n", 1)
    if idle_minutes is not None:
        text = text.replace("idle_timeout_minutes: 0.25", f"idle_timeout_minutes: {idle_minutes}")
    cfg.write_text(text)
    return cfg


def test_drain_node_refuses_a_busy_worker_and_an_accepted_one_takes_no_work(rc):
    cfg = two_worker_config(rc)
    rc.run("up", cfg, "-y")
    out = rc.driver(DRIVER_DRAIN, rc.ray_address(cfg), os.environ["RAYCLUSTER_DRAIN_TOOL"])[-1]
    assert len(out["workers"]) == 2, out
    assert out["busy_answer"]["outcome"] == "refused", out
    assert out["busy_answer"]["message"], out  # the raylet says why
    assert out["idle_answer"] == {"outcome": "accepted", "message": ""}, out
    assert out["held_on"] == out["busy"]
    # The idle worker was free the whole time, but drained: the new task
    # waited for the busy one instead.
    assert out["later_on"] == out["busy"], out


DRIVER_RACE = r"""
import json, random, sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
until = time.time() + float(sys.argv[2])
rng = random.Random(int(sys.argv[3]))

@ray.remote(num_cpus=1, resources={"demo_slot": 1}, max_retries=0)
def work(s):
    time.sleep(s)
    return ray.get_runtime_context().get_node_id()

ray.get([work.remote(0.5) for _ in range(2)], timeout=300)  # both workers up and used
ok, failed = 0, []
while time.time() < until:
    # Gaps around the 6 s idle timeout: work often arrives just as it passes.
    time.sleep(rng.uniform(4.5, 7.5))
    for r in [work.remote(rng.uniform(0.2, 1.0)) for _ in range(rng.choice([1, 2]))]:
        try:
            ray.get(r, timeout=300)
            ok += 1
        except Exception as e:
            failed.append(type(e).__name__ + ": " + str(e)[:200])
print(json.dumps({"ok": ok, "failed": failed}), flush=True)
"""


def test_idle_workers_are_drained_before_they_end_and_no_task_dies_with_one(rc):
    cfg = two_worker_config(rc, idle_minutes=0.1, workers=0)
    rc.run("up", cfg, "-y")
    mon = rc.monitor(cfg, interval=1)
    rc.wait_for(lambda: mon.of("demand"), 60, "the monitor's first look at the load", mon)
    out = rc.driver(DRIVER_RACE, rc.ray_address(cfg), 40, random.randrange(1 << 30))[-1]
    assert out["failed"] == [], (out, mon.describe())
    assert out["ok"] > 0
    drains = mon.of("drain")
    terms = {i: e["time"] for e in mon.of("terminate", reason="idle") for i in e["node_ids"]}
    accepted = [e for e in drains if e["detail"] == "accepted"]
    assert accepted, mon.describe()
    # Only accepted nodes were ended for idleness.
    for i in terms:
        assert any(i in e["node_ids"] and e["time"] <= terms[i] for e in accepted), mon.describe()
    # A node kept (refused, or busy in the fresh report) was not ended in that tick.
    kept = [e for e in drains if e["detail"].startswith(("refused", "busy in a fresh report"))]
    for e in kept:
        node = e["node_ids"][0]
        assert not (node in terms and terms[node] - e["time"] < 0.9), (e, mon.describe())
    print(f"\n[figures] drains: accepted {len(accepted)}, kept {len(kept)}, tasks {out['ok']}")
