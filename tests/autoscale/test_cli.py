"""The autoscaler's commands without Ray: request-resources persists Ray's
request_resources() semantics; monitor --once on a cluster without a head."""
import json


def test_request_resources_replaces_the_previous_request(rc):
    cfg = rc.config()
    path = rc.home / "localhost-autoscale" / "requested_resources.json"
    rc.run("request-resources", cfg, "--cpus", "3")
    assert json.loads(path.read_text())["bundles"] == [{"CPU": 1}] * 3
    rc.run("request-resources", cfg, "--cpus", "1", "--bundles", '[{"CPU": 2, "demo_slot": 1}]')
    assert json.loads(path.read_text())["bundles"] == [{"CPU": 1}, {"CPU": 2, "demo_slot": 1}]
    rc.run("request-resources", cfg, "--cpus", "0")
    assert json.loads(path.read_text())["bundles"] == []
    assert (path.stat().st_mode & 0o777) == 0o600


def test_request_resources_rejects_bad_input(rc):
    cfg = rc.config()
    for args in ([], ["--bundles", "{"], ["--bundles", '{"CPU": 1}'], ["--bundles", '[{"CPU": -1}]'],
                 ["--bundles", '[{"CPU": "x"}]'], ["--cpus", "-1"]):
        proc = rc.run("request-resources", cfg, *args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)


def test_monitor_once_without_a_head_says_so(rc):
    cfg = rc.config()
    proc = rc.run("monitor", cfg, "--once", "--json")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    assert [e["event"] for e in events] == ["skipped"]
    assert "no head" in events[0]["detail"]
    assert isinstance(events[0]["time"], float)
