"""Every process a localhost node's commands start ends with the node, even
one that detaches from its session and drops its environment (`setsid env -i`,
a double fork, `nohup ... &`), so that no marker could find it; nothing of
another node or of the user is touched."""
import os
import subprocess

from conftest import ROOT, processes_with_marker
from test_ray_localhost import ray_processes_of

# Each way of detaching sleeps for its own odd number of seconds, so the test
# finds those processes by command line (they carry no marker).
DETACHING = """
cluster_name: {name}
provider:
  type: localhost
max_workers: 2
head_node_type: head
available_node_types:
  head:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 0
  worker:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 2
    initial_workers: 1
head_start_ray_commands:
  - setsid env -i sh -c 'sleep {base}1' > /dev/null 2>&1 < /dev/null &
  - (sh -c 'env -i sleep {base}2 > /dev/null 2>&1 &')
  - nohup env -i sleep {base}3 > /dev/null 2>&1 &
worker_start_ray_commands:
  - setsid env -i sh -c 'sleep {base}4' > /dev/null 2>&1 < /dev/null &
  - (setsid sh -c 'env -i sleep {base}5 > /dev/null 2>&1 &')
  - nohup env -i sleep {base}6 > /dev/null 2>&1 &
"""


def sleeping(seconds):
    """Live `sleep SECONDS` processes (any parent, any session)."""
    found = []
    want = b"sleep\0" + str(seconds).encode() + b"\0"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd == want or cmd.endswith(b"/" + want):
            found.append(int(entry))
    return found


def detaching_config(rc, name):
    base = 7000 + os.getpid() % 900  # distinct per test process
    return rc.config(DETACHING.format(name=name, base=base), name + ".yaml"), base


def user_sleep(seconds):
    """A process of the user outside any cluster, detached the same way."""
    return subprocess.Popen(["setsid", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_all(rc, base, digits):
    rc.wait_for(lambda: all(len(sleeping(f"{base}{d}")) == 1 for d in digits),
                timeout=30, what="the detached sleeps")


def test_detached_processes_end_with_down_and_the_user_s_survive(rc):
    cfg, base = detaching_config(rc, "detach")
    rc.run("up", cfg, "-y")
    wait_all(rc, base, "123456")
    mine = user_sleep(f"{base}1")  # same command line as the head's first one
    try:
        rc.wait_for(lambda: len(sleeping(f"{base}1")) == 2, timeout=10, what="the user's sleep")
        cid = rc.cluster_id("detach")
        rc.run("down", cfg, "-y")
        for d in "123456":
            left = [p for p in sleeping(f"{base}{d}") if p != mine.pid]
            assert left == [], f"sleep {base}{d} survived down"
        assert processes_with_marker(cid + "/") == []
        assert mine.poll() is None, "down ended a process of the user"
    finally:
        mine.kill()
        mine.wait()


def test_scaling_a_worker_down_ends_its_detached_processes_only(rc):
    cfg, base = detaching_config(rc, "detachscale")
    rc.run("up", cfg, "-y")
    wait_all(rc, base, "123456")
    rc.run("scale", cfg, "--workers", "0", "-y")
    for d in "456":
        assert sleeping(f"{base}{d}") == [], f"the removed worker's sleep {base}{d} survived"
    for d in "123":
        assert len(sleeping(f"{base}{d}")) == 1, f"the head's sleep {base}{d} was ended"
    rc.run("down", cfg, "-y")
    for d in "123":
        assert sleeping(f"{base}{d}") == []


RAY_DETACHED = """
cluster_name: raydetach
provider:
  type: localhost
max_workers: 0
head_node_type: head
available_node_types:
  head:
    resources: {CPU: 1}
    min_workers: 0
    max_workers: 0
# Ray started with an empty environment in a session of its own: no marker
# and no session reach its daemons, only the node's keeper does.
head_start_ray_commands:
  - >-
    setsid env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8
    RAY_OVERRIDE_RESOURCES="$RAY_OVERRIDE_RESOURCES"
    ray start --head
    --node-ip-address=$RAYCLUSTER_NODE_IP
    --port=$RAYCLUSTER_GCS_PORT
    --dashboard-host=$RAYCLUSTER_NODE_IP
    --dashboard-port=$RAYCLUSTER_DASHBOARD_PORT
    --ray-client-server-port=$RAYCLUSTER_CLIENT_PORT
    --dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT
    --temp-dir=$RAYCLUSTER_RAY_TEMP_DIR
    --object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY
    --disable-usage-stats
"""


def test_ray_started_detached_without_environment_ends_with_down(rc):
    cfg = rc.config(RAY_DETACHED, "raydetach.yaml")
    rc.run("up", cfg, "-y", timeout=600)
    cid = rc.cluster_id("raydetach")
    temp_dir = "/tmp/raycluster-" + cid[:12]
    names = process_names(ray_processes_of(temp_dir))
    assert "raylet" in names and "gcs_server" in names, names
    rc.run("down", cfg, "-y")
    assert ray_processes_of(temp_dir) == []
    assert processes_with_marker(cid + "/") == []


def process_names(pids):
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                names.add(f.read().strip())
        except OSError:
            pass
    return names
