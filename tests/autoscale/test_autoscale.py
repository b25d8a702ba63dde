"""The tutorial's promise on real Ray: a head with one CPU and no workers,
`raycluster monitor` in the background; tasks that need more than the head
has make workers appear, and once the work is done and the workers have idled
past idle_timeout_minutes (0.25) they go again. The timeline is read from the
monitor's JSON events."""
import json
import re
import statistics
import time

import pytest

DRIVER = r"""
import json, sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=2, resources={"demo_slot": 1})
def work(i):
    time.sleep(2)
    return [ray.util.get_node_ip_address(), time.time()]

submitted = time.time()
refs = [work.remote(i) for i in range(int(sys.argv[2]))]
print(json.dumps({"submitted": submitted}), flush=True)
ran = ray.get(refs, timeout=600)
print(json.dumps({"submitted": submitted, "done": time.time(),
                  "ips": [ip for ip, _ in ran], "ended": ran}), flush=True)
"""

WORKER_SHAPE = '{"CPU":2,"demo_slot":1}'


def tick_costs(mon):
    """(whole tick, reading the head's report) in ms, from the -v tick events."""
    out = []
    for e in mon.of("tick"):
        m = re.search(r"(\d+) us \(load (\d+) us\)", e["detail"])
        if m:
            out.append((int(m.group(1)) / 1000, int(m.group(2)) / 1000))
    return out


def figures(name, **values):
    # Shown with `pytest -s`; the report quotes them.
    print(f"\n[figures] {name}: " + json.dumps({k: round(v, 3) for k, v in values.items()}))


def test_task_load_scales_up_then_idle_workers_go(rc):
    cfg = rc.config()
    rc.run("up", cfg, "-y")
    st = rc.status(cfg)
    assert [n["kind"] for n in st["nodes"]] == ["head"]

    mon = rc.monitor(cfg, interval=1)
    rc.wait_for(lambda: mon.of("demand"), 60, "the monitor's first look at the load", mon)

    # Two tasks the head cannot run (it has 1 CPU and no demo_slot).
    out = rc.driver(DRIVER, rc.ray_address(cfg), 2)[-1]
    assert out["done"] > out["submitted"]

    launches = mon.of("launch")
    assert len(launches) == 1, mon.describe()
    launch = launches[0]
    assert launch["node_type"] == "worker"
    assert launch["reason"] == "demand"
    assert launch["count"] == 2
    workers = set(launch["node_ids"])

    # The demand the launch answered was read from the head before it.
    seen = [e for e in mon.of("demand")
            if WORKER_SHAPE in e["detail"] and e["time"] <= launch["time"]]
    assert seen, mon.describe()
    demand = seen[0]
    assert demand["time"] >= out["submitted"] - 1
    # The first worker up may run both tasks before the second is ready.
    rc.wait_for(lambda: {i for e in mon.of("node_ready") for i in e["node_ids"]} >= workers,
                600, "both workers to be set up", mon)
    ready = mon.of("node_ready")
    assert {i for e in ready for i in e["node_ids"]} == workers
    assert all(e["time"] >= launch["time"] for e in ready)

    # The tasks ran on the new workers.
    st = rc.status(cfg)
    ips = {n["internal_ip"] for n in st["nodes"] if n["id"] in workers}
    assert set(out["ips"]) <= ips and out["ips"]

    # Each worker goes, with reason idle, only after it has idled 15 s: from
    # the end of the last task it ran, or from being ready if it ran none.
    # The head stays.
    idle_from = {}
    for n in st["nodes"]:
        if n["id"] in workers:
            ends = [t for ip, t in out["ended"] if ip == n["internal_ip"]]
            idle_from[n["id"]] = max(ends) if ends else max(
                e["time"] for e in ready if n["id"] in e["node_ids"])

    def gone():
        ended = {i for e in mon.of("terminate", reason="idle") for i in e["node_ids"]}
        return ended >= workers and ended
    rc.wait_for(gone, 180, "the idle workers to be terminated", mon)
    terms = mon.of("terminate", reason="idle")
    for e in terms:
        for i in e["node_ids"]:
            assert e["time"] >= idle_from[i] + 15 - 2, (i, idle_from, mon.describe())
    assert not mon.of("terminate", reason="failed_setup")
    assert not mon.of("launch_failed")
    assert [n["kind"] for n in rc.status(cfg)["nodes"]] == ["head"]
    assert mon.stop() == 130

    first_ready = min(e["time"] for e in ready)
    last_term = max(e["time"] for e in terms)
    costs = tick_costs(mon)
    assert costs
    quiet = [c for c in costs if c[0] < 1000]  # ticks that launched or terminated take longer
    figures("tick cost (ms)",
            ticks=len(costs),
            median=statistics.median(c[0] for c in costs),
            median_quiet=statistics.median(c[0] for c in quiet),
            median_load_read=statistics.median(c[1] for c in costs),
            max=max(c[0] for c in costs))
    figures("task load",
            demand_seen_to_launch_s=launch["time"] - demand["time"],
            head_report_to_launch_s=launch["time"] - demand["report_time"],
            submit_to_launch_s=launch["time"] - out["submitted"],
            launch_to_first_ready_s=first_ready - launch["time"],
            submit_to_done_s=out["done"] - out["submitted"],
            done_to_scaled_down_s=last_term - out["done"])


@pytest.mark.once
def test_request_resources_alone_launches_and_zero_lets_them_go(rc):
    cfg = rc.config()
    rc.run("up", cfg, "-y")
    mon = rc.monitor(cfg, interval=1)
    rc.wait_for(lambda: mon.of("demand"), 60, "the monitor's first look at the load", mon)

    asked = time.time()
    rc.run("request-resources", cfg, "--bundles", json.dumps([{"CPU": 2, "demo_slot": 1}] * 2))
    launch = rc.wait_for(lambda: mon.of("launch"), 60, "a launch", mon)[0]
    assert launch["reason"] == "request_resources"
    assert launch["count"] == 2
    workers = set(launch["node_ids"])
    rc.wait_for(lambda: {i for e in mon.of("node_ready") for i in e["node_ids"]} >= workers,
                600, "the requested workers to be ready", mon)
    ready_at = max(e["time"] for e in mon.of("node_ready"))

    # The request stands: idle or not, they stay past the idle timeout, and
    # nothing more is launched.
    time.sleep(15 + 8)
    assert not mon.of("terminate"), mon.describe()
    assert len(mon.of("launch")) == 1
    st = rc.status(cfg)
    assert sorted(n["id"] for n in st["nodes"] if n["kind"] == "worker") == sorted(workers)
    assert all(n["status"] == "up-to-date" for n in st["nodes"])

    withdrawn = time.time()
    rc.run("request-resources", cfg, "--cpus", "0")
    rc.wait_for(lambda: {i for e in mon.of("terminate", reason="idle")
                         for i in e["node_ids"]} >= workers,
                120, "the workers to go once the request is withdrawn", mon)
    assert [n["kind"] for n in rc.status(cfg)["nodes"]] == ["head"]
    mon.stop()
    last_term = max(e["time"] for e in mon.of("terminate"))
    figures("request_resources",
            request_to_launch_s=launch["time"] - asked,
            launch_to_ready_s=ready_at - launch["time"],
            withdraw_to_scaled_down_s=last_term - withdrawn)
