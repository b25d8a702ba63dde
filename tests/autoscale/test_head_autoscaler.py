"""The autoscaler `up` starts on the head (the config's default `autoscaler:
head`), on real Ray: no `raycluster monitor` runs anywhere, yet task load
makes workers appear and idle ones go; its supervisor restarts it after
kill -9; `scale` sets a floor it keeps; `down` stops it before anything else.
Its events are read from its log on the head node, its state from `status`."""
import json
import os
import signal
import time

import pytest

from test_autoscale import DRIVER, figures

CONFIG_NAME = "localhost-autoscale"


def head_config(rc):
    path = rc.config()
    # The example as a user has it: autoscaler left at its default (head).
    path.write_text(path.read_text().replace("\nautoscaler: local\n", "\n"))
    return path


def head_dir(rc, st):
    head = [n for n in st["nodes"] if n["kind"] == "head"][0]
    return rc.home / CONFIG_NAME / "nodes" / head["id"] / "autoscaler"


def log_events(folder):
    out = []
    log = folder / "monitor.log"
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def monitors_running():
    """Command lines of every `raycluster monitor` process on this machine."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[0].endswith(b"raycluster") and argv[1] == b"monitor":
            found.append([a.decode() for a in argv if a])
    return found


def workers(st):
    return [n for n in st["nodes"] if n["kind"] == "worker"]


# Sanitizer builds leave this to the plain build: the head autoscaler's loop runs
# under ASan in the on-prem and AWS head-role tests, at a fraction of the time.
@pytest.mark.once
def test_up_runs_the_autoscaler_on_the_head(rc):
    cfg = head_config(rc)
    up = rc.run("up", cfg, "-y")
    up_returned = time.time()
    assert "head autoscaler started on the head (loop)" in up.stdout + up.stderr

    st = rc.status(cfg)
    a = st["autoscaler"]
    assert a["site"] == "head" and a["installed"] and a["alive"], a
    assert a["service"] == "loop"
    folder = head_dir(rc, st)
    assert (folder / "monitor.log").exists()

    # Its first tick, read from the status file next to its log.
    report = rc.wait_for(lambda: (lambda r: r if r and r.get("last_tick") else None)(
                             rc.status(cfg)["autoscaler"]["report"]),
                         30, "the head autoscaler's first tick")
    # Negative: it ticked while `up` was still printing the cluster's status.
    figures("head autoscaler", first_tick_after_up_returned_s=report["last_tick"] - up_returned,
            first_tick_after_its_start_s=report["last_tick"] - report["started"])
    text = rc.run("status", cfg).stdout
    assert "autoscaler: head" in text and "alive" in text and "last tick" in text

    # Every autoscaler on this machine is the head's: none runs `monitor` here.
    running = monitors_running()
    assert running and all("--on-head" in argv for argv in running), running

    # Real task load the head cannot hold: the head autoscaler launches workers.
    out = rc.driver(DRIVER, rc.ray_address(cfg), 2)[-1]
    assert out["done"] > out["submitted"]
    launches = [e for e in log_events(folder) if e["event"] == "launch"]
    assert launches and launches[0]["reason"] == "demand", log_events(folder)
    launched = {i for e in launches for i in e["node_ids"]}
    assert set(out["ips"]) <= {n["internal_ip"] for n in rc.status(cfg)["nodes"]} | set(out["ips"])

    # Its log, from the head; and no second autoscaler may start beside it.
    log = rc.run("monitor", cfg, "--log").stdout
    assert '"event":"launch"' in log
    beside = rc.run("monitor", cfg, "--once", check=False)
    assert beside.returncode == 2 and "runs on the head" in beside.stderr

    # Idle past idle_timeout_minutes (0.25): released again.
    rc.wait_for(lambda: not workers(rc.status(cfg)), 90, "the idle workers to go")
    ended = {i for e in log_events(folder) if e["event"] == "terminate" and e["reason"] == "idle"
             for i in e["node_ids"]}
    assert launched <= ended, log_events(folder)
    assert rc.status(cfg)["autoscaler"]["report"]["last_decision"].startswith("terminate")

    # kill -9: its supervisor starts it again.
    pid = int((folder / "monitor.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    rc.wait_for(lambda: (folder / "monitor.pid").exists() and
                int((folder / "monitor.pid").read_text() or 0) not in (0, pid) and
                rc.status(cfg)["autoscaler"]["alive"], 30, "the supervisor to restart it")
    assert "restarting in" in (folder / "monitor.log").read_text()
    assert "raycluster" in open(f"/proc/{int((folder / 'monitor.pid').read_text())}/cmdline").read()

    # `scale` while it runs: it adopts the count as the type's floor and,
    # past the idle timeout, keeps the idle worker.
    rc.run("scale", cfg, "--workers", "1", "-y")
    rc.wait_for(lambda: [e for e in log_events(folder) if e["event"] == "target"], 30,
                "the head autoscaler to read the new target")
    target = [e for e in log_events(folder) if e["event"] == "target"][-1]
    assert "worker >= 1" in target["detail"]
    kept = workers(rc.status(cfg))
    assert len(kept) == 1
    time.sleep(25)  # idle_timeout_minutes 0.25 plus a tick
    assert [n["id"] for n in workers(rc.status(cfg))] == [kept[0]["id"]]

    # `down` stops the head autoscaler before it ends any node.
    down = rc.run("down", cfg, "-y")
    lines = (down.stdout + down.stderr).splitlines()
    stop_at = next(i for i, l in enumerate(lines) if "stopping the head autoscaler" in l)
    end_at = next(i for i, l in enumerate(lines) if "terminating" in l)
    assert stop_at < end_at, lines
    assert any("head autoscaler stopped" in l for l in lines[stop_at:end_at]), lines
    assert not monitors_running()
    assert rc.status(cfg)["nodes"] == []
