"""Records Ray's GET /api/v0/tasks answers for the unit tests of
lib/monitor/task_durations (tests/unit/autoscaler/task_durations_test.cpp).

Starts `ray start --head` in a temporary folder on loopback, with the GCS
keeping at most 12 tasks' events (RAY_task_events_max_num_task_in_gcs), runs
sleeping tasks of two shapes, and saves what the dashboard answers:

  finished.json    state=FINISHED, detail, limit 100: 4 x {CPU: 1} sleeping
                   0.4 s and 3 x {CPU: 0.5, slot: 1} sleeping 0.8 s
  limited.json     the same query with limit=3 (num_filtered > len(result))
  dropped.json     after 10 more {CPU: 1} tasks: the GCS has dropped events
                   (total > num_after_truncation)
  bad_limit.json   limit above Ray's RAY_MAX_LIMIT_FROM_API_SERVER (HTTP 400)

Run it with the project's Python (ray 2.60):
  .venv/bin/python tests/unit/autoscaler/record_ray_tasks.py tests/unit/autoscaler/data/ray_tasks
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The query of lib/monitor/task_durations.cpp (ray_tasks_query).
QUERY = ("/api/v0/tasks?detail=true&exclude_driver=true&timeout=5"
         "&filter_keys=state&filter_predicates=%3D&filter_values=FINISHED"
         "&filter_keys=type&filter_predicates=%3D&filter_values=NORMAL_TASK&limit={limit}")

DRIVER = r"""
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=1)
def short(i):
    time.sleep(0.4)
    return i

@ray.remote(num_cpus=0.5, resources={"slot": 1})
def long(i):
    time.sleep(0.8)
    return i

if sys.argv[2] == "two-shapes":
    ray.get([short.remote(i) for i in range(4)] + [long.remote(i) for i in range(3)])
else:
    ray.get([short.remote(i) for i in range(10)])
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_dashboard(base, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        try:
            if get(base + QUERY.format(limit=1))[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the dashboard did not answer within {deadline} s")


def wait_finished(base, count, deadline=60):
    # Workers flush task events to the GCS about once a second.
    end = time.time() + deadline
    while time.time() < end:
        status, body = get(base + QUERY.format(limit=100))
        if status == 200 and len(json.loads(body)["data"]["result"]["result"]) >= count:
            return
        time.sleep(0.5)
    raise SystemExit(f"fewer than {count} finished tasks after {deadline} s")


def save(out, name, body):
    # Pretty-printed so a diff of a new recording is readable.
    (out / name).write_text(json.dumps(json.loads(body), indent=1, sort_keys=True) + "\n")


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    bindir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, RAY_task_events_max_num_task_in_gcs="12",
               PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    gcs, dash = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="rt") as tmp:
        # --block keeps `ray start` in the foreground, so Ray's processes stay
        # in this one process group and are stopped by it alone (not `ray
        # stop`, which would stop every Ray on the machine).
        head = subprocess.Popen(
            ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1",
             f"--port={gcs}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
             "--num-cpus=2", '--resources={"slot": 2}', f"--temp-dir={tmp}",
             "--include-dashboard=true", "--disable-usage-stats"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{dash}"
            address = f"127.0.0.1:{gcs}"
            wait_dashboard(base)
            subprocess.run([sys.executable, "-c", DRIVER, address, "two-shapes"], env=env, check=True)
            wait_finished(base, 7)
            save(out, "finished.json", get(base + QUERY.format(limit=100))[1])
            save(out, "limited.json", get(base + QUERY.format(limit=3))[1])
            subprocess.run([sys.executable, "-c", DRIVER, address, "more"], env=env, check=True)
            time.sleep(3)
            save(out, "dropped.json", get(base + QUERY.format(limit=100))[1])
            status, body = get(base + QUERY.format(limit=1000000))
            assert status == 400, status
            save(out, "bad_limit.json", body)
        finally:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()


if __name__ == "__main__":
    main()
