"""The localhost provider's lifecycle through the command line, with plain
shell commands as the nodes' workload (the Ray tests use real Ray)."""
import json
import os
import re
import signal
import time

from conftest import ROOT, processes_with_marker

SHELL_CLUSTER = """
cluster_name: {name}
provider:
  type: localhost
# The nodes run no Ray, so there is no load for an autoscaler on the head to read.
autoscaler: local
max_workers: 4
head_node_type: head
available_node_types:
  head:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 0
  worker:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 3
    initial_workers: 2
setup_commands:
  - echo {setup_word} >> $RAYCLUSTER_NODE_DIR/setup.count
worker_setup_commands:
  - sleep ${{RC_TEST_SETUP_DELAY:-0}}
head_start_ray_commands:
  - nohup sleep 3600 > /dev/null 2>&1 &
  - setsid -f sleep 3601 > /dev/null 2>&1
worker_start_ray_commands:
  - nohup sleep 3600 > /dev/null 2>&1 &
"""


def shell_config(rc, name="shell", setup_word="setup"):
    return rc.config(SHELL_CLUSTER.format(name=name, setup_word=setup_word), name + ".yaml")


def nodes_by_kind(status):
    heads = [n for n in status["nodes"] if n["kind"] == "head"]
    workers = [n for n in status["nodes"] if n["kind"] == "worker"]
    return heads, workers


def setup_count(rc, name, node_id):
    path = rc.cluster_dir(name) / "nodes" / node_id / "setup.count"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_up_status_exec_scale_down(rc):
    cfg = shell_config(rc)
    rc.run("up", cfg, "-y")
    st = rc.status(cfg)
    heads, workers = nodes_by_kind(st)
    assert len(heads) == 1 and len(workers) == 2
    assert all(n["status"] == "up-to-date" for n in st["nodes"])
    ips = [n["internal_ip"] for n in st["nodes"]]
    assert len(set(ips)) == 3 and all(re.fullmatch(r"127\.\d+\.\d+\.\d+", ip) for ip in ips)
    for n in st["nodes"]:
        assert n["tags"]["ray-cluster-name"] == "shell"
        assert n["tags"]["ray-node-type"] == n["kind"]
        assert n["tags"]["ray-user-node-type"] == ("head" if n["kind"] == "head" else "worker")
        assert setup_count(rc, "shell", n["id"]) == 1

    assert rc.run("get-head-ip", cfg).stdout.split() == [heads[0]["internal_ip"]]
    assert sorted(rc.run("get-worker-ips", cfg).stdout.split()) == sorted(
        w["internal_ip"] for w in workers)

    out = rc.run("exec", cfg, "--", "echo head=$RAY_HEAD_IP; exit 3", check=False)
    assert out.returncode == 3
    assert out.stdout.strip() == f"head={heads[0]['internal_ip']}"
    out = rc.run("exec", cfg, "--node", workers[0]["id"], "--", "echo $RAYCLUSTER_NODE_ID")
    assert out.stdout.strip() == workers[0]["id"]

    cid = rc.cluster_id("shell")
    # 1 + 1 daemons on the head (one left its session), 1 per worker.
    assert len(processes_with_marker(cid + "/")) == 4

    rc.run("scale", cfg, "--workers", "3", "-y")
    _, workers = nodes_by_kind(rc.status(cfg))
    assert len(workers) == 3 and all(w["status"] == "up-to-date" for w in workers)
    rc.run("scale", cfg, "--num-workers", "1", "-y")
    _, after = nodes_by_kind(rc.status(cfg))
    assert len(after) == 1
    removed = {w["id"] for w in workers} - {after[0]["id"]}
    for node_id in removed:
        assert processes_with_marker(f"{cid}/{node_id}") == []

    too_many = rc.run("scale", cfg, "--workers", "5", "-y", check=False)
    assert too_many.returncode == 2
    assert "max_workers is 3" in too_many.stderr
    assert re.search(r"shell\.yaml:\d+:\d+:", too_many.stderr)

    rc.run("down", cfg, "-y")
    assert rc.status(cfg)["nodes"] == []
    assert processes_with_marker(cid + "/") == []


def test_second_up_reuses_nodes_and_reruns_setup_only_on_change(rc):
    cfg = shell_config(rc, name="again")
    rc.run("up", cfg, "-y")
    first = {n["id"] for n in rc.status(cfg)["nodes"]}
    rc.run("up", cfg, "-y")
    st = rc.status(cfg)
    assert {n["id"] for n in st["nodes"]} == first
    assert all(setup_count(rc, "again", n["id"]) == 1 for n in st["nodes"])

    # A changed setup command re-runs setup on the same nodes.
    shell_config(rc, name="again", setup_word="changed")
    rc.run("up", cfg, "-y")
    st = rc.status(cfg)
    assert {n["id"] for n in st["nodes"]} == first
    assert all(setup_count(rc, "again", n["id"]) == 2 for n in st["nodes"])
    # ... and the old daemons were ended before the new ones started.
    cid = rc.cluster_id("again")
    assert len(processes_with_marker(cid + "/")) == 4


def test_failed_setup_names_node_command_and_status(rc):
    cfg = rc.config("""
        cluster_name: failing
        provider: {type: localhost}
        head_node_type: head
        available_node_types:
          head: {resources: {CPU: 1}, min_workers: 0, max_workers: 0}
          worker: {resources: {CPU: 1}, min_workers: 1, max_workers: 1}
        head_start_ray_commands: ["true"]
        worker_setup_commands:
          - echo attempt >> $RAYCLUSTER_NODE_DIR/attempts; echo 'disk is full' >&2; exit 7
        worker_start_ray_commands: ["true"]
        """)
    out = rc.run("up", cfg, "-y", check=False)
    assert out.returncode == 1
    st = rc.status(cfg)
    _, workers = nodes_by_kind(st)
    assert len(workers) == 1
    w = workers[0]
    assert w["status"] == "update-failed"
    assert w["id"] in out.stderr
    assert "exited 7" in out.stderr and "disk is full" in out.stderr
    assert "exited 7" in w["tags"]["raycluster-failure"]
    attempts = rc.cluster_dir("failing") / "nodes" / w["id"] / "attempts"
    assert len(attempts.read_text().splitlines()) == 2  # tried, retried, then failed


def test_command_timeout_fails_the_node(rc):
    cfg = rc.config("""
        cluster_name: slow
        provider: {type: localhost}
        head_node_type: head
        available_node_types:
          head: {resources: {CPU: 1}, min_workers: 0, max_workers: 0}
        head_start_ray_commands: ["sleep 60"]
        """)
    # Unended, the head's `sleep 60` would let `up` succeed: the failure is the timeout's.
    out = rc.run("up", cfg, "-y", "--command-timeout", "1", check=False)
    assert out.returncode == 1
    assert "timed out" in out.stderr


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def start_slow_up(rc, name):
    """Starts `up` with workers whose setup takes a minute; returns once both
    workers are in setting-up (the moment to kill or interrupt it)."""
    cfg = shell_config(rc, name=name)
    rc.env["RC_TEST_SETUP_DELAY"] = "60"
    proc = rc.popen("up", cfg, "-y")

    def busy():
        if proc.poll() is not None:
            raise AssertionError(f"up exited early: {proc.communicate()}")
        recs = rc.node_records(name)
        if len([r for r in recs if r["kind"] == "worker"
                and r["tags"].get("ray-node-status") == "setting-up"]) < 2:
            return False
        # The setup commands themselves run (each after its keeper is recorded).
        workers = [r["id"] for r in recs if r["kind"] == "worker"]
        cid = rc.cluster_id(name)
        return all(any(command_line(p) == b"sleep\x0060\x00"
                       for p in processes_with_marker(f"{cid}/{w}")) for w in workers)
    rc.wait_for(busy, timeout=120, what="workers in setting-up")
    return cfg, proc


def test_kill9_mid_up_then_up_and_down_converge(rc):
    cfg, proc = start_slow_up(rc, "crash")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cid = rc.cluster_id("crash")
    orphans = processes_with_marker(cid + "/")
    assert orphans, "the killed up left its setup commands running (expected)"
    ids = {r["id"] for r in rc.node_records("crash")}
    assert len(ids) == 3

    del rc.env["RC_TEST_SETUP_DELAY"]
    rc.run("up", cfg, "-y")
    st = rc.status(cfg)
    assert {n["id"] for n in st["nodes"]} == ids  # no duplicate node
    assert all(n["status"] == "up-to-date" for n in st["nodes"])
    # Only the daemons of this run: the killed run's sleeps are gone.
    assert len(processes_with_marker(cid + "/")) == 4

    rc.run("down", cfg, "-y")
    assert processes_with_marker(cid + "/") == []
    assert rc.node_records("crash") == []


def test_kill9_mid_up_then_down_leaves_nothing(rc):
    cfg, proc = start_slow_up(rc, "crashdown")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cid = rc.cluster_id("crashdown")
    assert processes_with_marker(cid + "/")
    rc.run("down", cfg, "-y")
    assert processes_with_marker(cid + "/") == []
    assert rc.node_records("crashdown") == []


def test_ctrl_c_stops_up_cleanly(rc):
    cfg, proc = start_slow_up(rc, "interrupt")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)  # a hang guard; the setup alone takes 60 s
    assert proc.returncode == 130
    assert "cancelled" in err
    # The interrupted setup commands were ended with it.
    cid = rc.cluster_id("interrupt")
    workers = [r for r in rc.node_records("interrupt") if r["kind"] == "worker"]
    for w in workers:
        assert processes_with_marker(f"{cid}/{w['id']}") == []
    rc.run("down", cfg, "-y")
    assert processes_with_marker(cid + "/") == []


def test_second_operation_on_a_busy_cluster_is_refused(rc):
    cfg = shell_config(rc, name="busy")
    rc.env["RC_TEST_SETUP_DELAY"] = "60"
    proc = rc.popen("up", cfg, "-y")
    try:
        rc.wait_for(lambda: rc.node_records("busy") or proc.poll() is not None,
                    timeout=60, what="first node")
        other = rc.run("down", cfg, "-y", check=False)
        assert other.returncode == 1
        assert "another raycluster process" in other.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def state_files_parse(rc, name):
    for path in rc.cluster_dir(name).rglob("*.json"):
        json.loads(path.read_text())  # raises on a torn or corrupted file


def start_slow_scale(rc, name, workers):
    """Brings a cluster up, then starts `scale --workers N` whose new
    workers' setup takes a minute; returns once a new worker is setting up."""
    cfg = shell_config(rc, name=name)
    rc.run("up", cfg, "-y")
    rc.env["RC_TEST_SETUP_DELAY"] = "60"
    proc = rc.popen("scale", cfg, "--workers", str(workers), "-y")
    rc.wait_for(lambda: len([r for r in rc.node_records(name) if r["kind"] == "worker"]) >= workers
                or proc.poll() is not None, timeout=60, what="the new worker")
    assert proc.poll() is None, proc.communicate()
    del rc.env["RC_TEST_SETUP_DELAY"]
    return cfg, proc


def test_second_scale_up_or_down_during_a_scale_is_refused_and_the_cluster_converges(rc):
    cfg, proc = start_slow_scale(rc, "busyscale", 3)
    try:
        for other in (["scale", cfg, "--workers", "1", "-y"], ["up", cfg, "-y"],
                      ["down", cfg, "-y"]):
            r = rc.run(*other, check=False)
            assert r.returncode == 1, (other, r.stdout, r.stderr)
            assert "another raycluster process is changing this cluster" in r.stderr
            state_files_parse(rc, "busyscale")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130
    state_files_parse(rc, "busyscale")
    # The refused commands changed nothing; the interrupted scale resumes.
    rc.run("scale", cfg, "--workers", "3", "-y")
    _, workers = nodes_by_kind(rc.status(cfg))
    assert len(workers) == 3 and all(w["status"] == "up-to-date" for w in workers)
    rc.run("down", cfg, "-y")
    assert rc.node_records("busyscale") == []


def start_monitor(rc, cfg):
    proc = rc.popen("monitor", cfg, "--interval", "0.2", "--json")
    rc.wait_for(lambda: proc.poll() is not None or rc.cluster_dir(cfg.stem).exists(),
                timeout=30, what="the monitor")
    time.sleep(1)  # a few ticks
    assert proc.poll() is None, proc.communicate()
    return proc


def run_waiting_out_the_monitor(rc, *args):
    """A command that meets a monitor tick holding the lock is refused with
    the lock's message; the same command a moment later goes through."""
    for _ in range(20):
        r = rc.run(*args, check=False)
        if r.returncode == 0:
            return r
        assert r.returncode == 1 and "another raycluster process" in r.stderr, r.stderr
        time.sleep(0.3)
    raise AssertionError(f"{args[0]} never got past the monitor")


def stop_monitor(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), err
    return out


def test_down_while_monitor_runs_leaves_nothing_and_monitor_relaunches_nothing(rc):
    cfg = shell_config(rc, name="mondown")
    rc.run("up", cfg, "-y")
    cid = rc.cluster_id("mondown")
    mon = start_monitor(rc, cfg)
    try:
        run_waiting_out_the_monitor(rc, "down", cfg, "-y")
        time.sleep(2)  # ticks after down: the cluster has no head, nothing starts
        assert rc.node_records("mondown") == []
        assert processes_with_marker(cid + "/") == []
    finally:
        out = stop_monitor(mon)
    for line in out.splitlines():
        json.loads(line)
    state_files_parse(rc, "mondown")


def test_scale_while_monitor_runs_converges(rc):
    cfg = shell_config(rc, name="monscale")
    rc.run("up", cfg, "-y")
    mon = start_monitor(rc, cfg)
    try:
        run_waiting_out_the_monitor(rc, "scale", cfg, "--workers", "3", "-y")
        time.sleep(1.5)
        _, workers = nodes_by_kind(rc.status(cfg))
        assert len(workers) == 3 and all(w["status"] == "up-to-date" for w in workers)
        state_files_parse(rc, "monscale")
    finally:
        stop_monitor(mon)
    rc.run("down", cfg, "-y")
    assert rc.node_records("monscale") == []


def test_confirmation_is_required_without_a_terminal(rc):
    cfg = shell_config(rc, name="confirm")
    out = rc.run("up", cfg, check=False, input="")
    assert out.returncode == 1
    assert "pass -y" in out.stderr
    assert rc.node_records("confirm") == []


def test_gcp_up_without_credentials_fails_before_any_instance(rc):
    cfg = ROOT / "examples" / "gcp" / "cluster.yaml"
    for k in list(rc.env):
        if k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_")):
            del rc.env[k]
    # Nothing may leave this machine: the API and the metadata server refuse.
    rc.env["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] = "http://127.0.0.1:9/compute/v1/"
    rc.env["GCE_METADATA_HOST"] = "127.0.0.1:9"
    out = rc.run("up", cfg, "-y", check=False)
    assert out.returncode != 0
    assert "credentials" in out.stderr.lower()


def test_aws_up_without_credentials_fails_before_any_request(rc, tmp_path):
    cfg = rc.config("""
        provider: aws
        region: us-east-1
        instance_type: m5.large
        initial_workers: 1
        """, "aws.yaml")
    for k in list(rc.env):
        if k.startswith("AWS_"):
            del rc.env[k]
    rc.env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")
    rc.env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    # Nor may the chain ask the instance metadata service (169.254.169.254).
    rc.env["AWS_EC2_METADATA_DISABLED"] = "true"
    # Any request would go here and fail differently; none may be sent.
    rc.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    out = rc.run("up", cfg, "-y", check=False)
    assert out.returncode == 1
    assert "auth error" in out.stderr and "no AWS credentials" in out.stderr