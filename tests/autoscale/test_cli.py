"""The autoscaler's commands without Ray: request-resources persists Ray's
request_resources() semantics; monitor --once on a cluster without a head."""
import json


def test_request_resources_replaces_the_previous_request(rc):
    cfg = rc.config()
    path = rc.home / "localhost-autoscale" / "requested_resources.json"
    rc.run("request-resources", cfg, "--cpus", "3")
    assert json.loads(path.read_text())["requests"] == [[{"CPU": 1}, 3]]
    rc.run("request-resources", cfg, "--cpus", "1", "--bundles", '[{"CPU": 2, "demo_slot": 1}]')
    assert json.loads(path.read_text())["requests"] == [[{"CPU": 1}, 1],
                                                         [{"CPU": 2, "demo_slot": 1}, 1]]
    rc.run("request-resources", cfg, "--cpus", "0")
    assert json.loads(path.read_text())["requests"] == []
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_million_cpus_is_a_small_file_the_monitor_reads(rc):
    cfg = rc.config()
    path = rc.home / "localhost-autoscale" / "requested_resources.json"
    proc = rc.run("request-resources", cfg, "--cpus", "1000000",
                  "--bundles", json.dumps([{"GPU": 1}] * 3))
    assert "requested 1000003 bundle(s)" in proc.stdout
    assert path.stat().st_size < 300
    assert json.loads(path.read_text())["requests"] == [[{"CPU": 1}, 1000000], [{"GPU": 1}, 3]]
    # The monitor reads it back: no "requested resources" load error.
    proc = rc.run("monitor", cfg, "--once", "--json")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    assert not [e for e in events if "requested resources" in e.get("detail", "")], events
    # Past the limit, refused with the limit named; the request stays.
    proc = rc.run("request-resources", cfg, "--cpus", "10000001", check=False)
    assert proc.returncode == 2
    assert "kMaxRequestedBundles" in proc.stderr and "10000000" in proc.stderr
    assert json.loads(path.read_text())["requests"][0] == [{"CPU": 1}, 1000000]


def test_request_resources_rejects_bad_input(rc):
    cfg = rc.config()
    for args in ([], ["--bundles", "{"], ["--bundles", '{"CPU": 1}'], ["--bundles", '[{"CPU": -1}]'],
                 ["--bundles", '[{"CPU": "x"}]'], ["--cpus", "-1"]):
        proc = rc.run("request-resources", cfg, *args, check=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    # rc_request_resources says the same, word for word (tests/c/test_capi.c).
    proc = rc.run("request-resources", cfg, "--bundles", '[{"CPU": -1}]', check=False)
    assert ('request_resources: bundle 0: "CPU" must be a finite number >= 0 and at most 1e18'
            in proc.stderr)


def test_monitor_once_without_a_head_says_so(rc):
    cfg = rc.config()
    proc = rc.run("monitor", cfg, "--once", "--json")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    assert [e["event"] for e in events] == ["skipped"]
    assert "no head" in events[0]["detail"]
    assert isinstance(events[0]["time"], float)
