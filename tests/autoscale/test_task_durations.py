"""Task durations on real Ray: with `launch_payback` on, `raycluster monitor`
reads finished tasks from the head's state API and shows, per resource shape,
how long they ran (its `durations` events, which the planner's input carries).
Tasks of one shape sleep a known time; the estimate must lie between that
sleep and the driver's own round trip per task (which contains the task's
RUNNING-to-FINISHED span Ray reports)."""
import json
import re

SLEEP_S = 1.5

DRIVER = r"""
import json, sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=1)
def nap(s):
    time.sleep(s)
    return s

# One at a time, so nothing queues and the head (1 CPU) runs them all.
trips = []
for _ in range(int(sys.argv[2])):
    t0 = time.time()
    ray.get(nap.remote(float(sys.argv[3])))
    trips.append(time.time() - t0)
print(json.dumps({"trips": trips, "done": time.time()}), flush=True)
"""

SHAPE = '{"CPU":1}'


def estimate(event):
    m = re.search(re.escape(SHAPE) + r": ([0-9.]+) s \(p90 [0-9.]+ s, (\d+) tasks?\)", event["detail"])
    return (float(m.group(1)), int(m.group(2))) if m else None


def test_monitor_learns_the_run_time_of_one_task_shape(rc):
    cfg = rc.config()
    cfg.write_text(cfg.read_text() + "launch_payback: 1\n")
    rc.run("up", cfg, "-y")
    mon = rc.monitor(cfg, interval=1)
    rc.wait_for(lambda: mon.of("demand"), 60, "the monitor's first look at the load", mon)

    count = 4
    out = rc.driver(DRIVER, rc.ray_address(cfg), count, SLEEP_S)[-1]
    trips = out["trips"]
    assert len(trips) == count and min(trips) >= SLEEP_S

    def learned():
        seen = [estimate(e) for e in mon.of("durations") if estimate(e)]
        return seen[-1] if seen and seen[-1][1] == count else None
    mean_s, tasks = rc.wait_for(learned, 40, f"an estimate over the {count} tasks", mon)
    assert tasks == count
    assert SLEEP_S <= mean_s <= sum(trips) / count + 0.01, (mean_s, trips, mon.describe())
    # Nothing queued: the estimate is shown, nothing was launched for it.
    assert not mon.of("launch"), mon.describe()
    assert not [e for e in mon.of("load_error") if "task durations" in e.get("detail", "")], \
        mon.describe()
    assert mon.stop() == 130
    print("\n[figures] task durations: " + json.dumps(
        {"sleep_s": SLEEP_S, "estimate_s": mean_s, "mean_round_trip_s": round(sum(trips) / count, 3)}))
