"""`raycluster up / scale / status / down` on the EC2 emulator, with real SSH.

Checked after each run: nothing leaked (every instance the cluster launched is
terminated after `down`), nothing launched twice (instances == nodes the
cluster asked for; every RunInstances ClientToken names one launch), and the
security group lets SSH in from the caller's address only.
"""
import collections
import json
import time


def live(ec2, name):
    return [i for i in ec2.instances()
            if i["tags"].get("ray-cluster-name") == name and i["state"] in ("pending", "running")]


def launches(ec2):
    """RunInstances calls that launched something, by ClientToken."""
    by_token = collections.defaultdict(list)
    for call in ec2.calls():
        if call.get("action") == "RunInstances" and call.get("status") == 200:
            by_token[call["params"]["ClientToken"]].append(call)
    return by_token


def check_no_double_launch(ec2, name):
    instances = [i for i in ec2.instances() if i["tags"].get("ray-cluster-name") == name]
    tokens = collections.Counter(i["client_token"] for i in instances)
    # Instances of one token come from one RunInstances: its MaxCount.
    for token, calls in launches(ec2).items():
        counts = {c["params"]["MaxCount"] for c in calls}
        assert len(counts) == 1, f"ClientToken {token} reused with other counts {counts}"
        assert tokens[token] == int(counts.pop()), f"token {token}: {tokens[token]} instances"
    return instances


def run_lifecycle(aws, name):
    cfg = aws.config(name, workers=3)
    aws.run("up", cfg, "-y")
    st = aws.status(cfg)
    heads = [n for n in st["nodes"] if n["kind"] == "head"]
    workers = [n for n in st["nodes"] if n["kind"] == "worker"]
    assert len(heads) == 1 and len(workers) == 3
    assert all(n["status"] == "up-to-date" for n in st["nodes"])
    assert len(live(aws.ec2, name)) == 4
    for n in st["nodes"]:
        marks = aws.marks / f"{n['id']}.setup"
        assert marks.exists(), f"{n['id']} was not set up"
        start = (aws.marks / f"{n['id']}.start").read_text()
        assert ("head" in start) if n["kind"] == "head" else ("worker" in start)

    aws.run("scale", cfg, "--workers", "5", "-y")
    assert len([n for n in aws.status(cfg)["nodes"] if n["kind"] == "worker"]) == 5
    aws.run("scale", cfg, "--workers", "3", "-y")
    assert len([n for n in aws.status(cfg)["nodes"] if n["kind"] == "worker"]) == 3
    assert len(live(aws.ec2, name)) == 4

    instances = check_no_double_launch(aws.ec2, name)
    assert len(instances) == 1 + 5  # the head, 3 workers, 2 more: each launched once

    aws.run("down", cfg, "-y")
    assert live(aws.ec2, name) == []
    leaked = [i for i in aws.ec2.instances()
              if i["tags"].get("ray-cluster-name") == name and i["state"] not in ("shutting-down", "terminated")]
    assert leaked == []
    # autoscaler: local asks for no head role: nothing of IAM either.
    assert aws.ec2.iam_state() == {"roles": [], "instance_profiles": []}

    groups = [g for g in aws.ec2.security_groups() if g["name"] == f"raycluster-{name}"]
    assert len(groups) == 1
    for rule in groups[0]["ingress"]:
        assert rule["peer"] not in ("0.0.0.0/0", "::/0")
        if rule["peer_kind"] != "group":
            assert rule["peer"].endswith("/32") and rule["from_port"] == rule["to_port"]
            # The dashboard is reached through `raycluster dashboard`'s tunnel only.
            assert rule["from_port"] != 8265, rule


def test_up_scale_status_down(aws):
    run_lifecycle(aws, "clean")


def test_up_scale_down_with_throttling_and_server_errors(aws):
    # A third of the API calls fail: throttled, 500 or 503, and some answers
    # are lost after the action took effect (a retried RunInstances must not
    # launch twice).
    aws.ec2.set_faults({"throttle_rate": 0.15, "error500_rate": 0.1, "error503_rate": 0.08,
                        "drop_after_effect_rate": 0.05, "seed": 7})
    run_lifecycle(aws, "faulty")
    faults = collections.Counter(c.get("fault") for c in aws.ec2.calls() if c.get("fault"))
    assert faults["throttle"] > 0 and faults["error500"] > 0 and faults["error503"] > 0, faults


def test_a_new_state_folder_takes_over_a_cluster_whose_folder_was_lost(aws, tmp_path):
    cfg = aws.config("lost", workers=1)
    aws.run("up", cfg, "-y")
    launched = {i["id"] for i in live(aws.ec2, "lost")}
    assert len(launched) == 2
    cloud_id = {i["tags"]["raycluster-id"] for i in live(aws.ec2, "lost")}
    assert len(cloud_id) == 1

    aws.env["RAYCLUSTER_HOME"] = str(tmp_path / "fresh-state")
    out = aws.run("status", cfg, "--json")
    assert "takes it over" in out.stderr, out.stderr
    st = json.loads(out.stdout)
    assert {n["id"] for n in st["nodes"]} == launched
    assert st["cluster_id"] == cloud_id.pop()
    saved = json.loads((tmp_path / "fresh-state" / "lost" / "cluster.json").read_text())
    assert saved["cluster_id"] == st["cluster_id"] and saved["adopted"] is True

    aws.run("down", cfg, "-y")
    assert live(aws.ec2, "lost") == []
    # The first folder finds nothing left to end.
    aws.env["RAYCLUSTER_HOME"] = str(aws.home)
    aws.run("down", cfg, "-y")


def test_down_from_a_new_folder_leaves_two_clusters_of_one_name_alone(aws, tmp_path):
    cfg = aws.config("twins", workers=0)
    second = str(tmp_path / "second-state")
    # The second folder exists before the first cluster does, so it keeps
    # an id of its own and launches a cluster of the same name beside it.
    aws.env["RAYCLUSTER_HOME"] = second
    aws.run("status", cfg)
    aws.env["RAYCLUSTER_HOME"] = str(aws.home)
    aws.run("up", cfg, "-y")
    aws.env["RAYCLUSTER_HOME"] = second
    aws.run("up", cfg, "-y")
    heads = live(aws.ec2, "twins")
    assert len(heads) == 2
    assert len({i["tags"]["raycluster-id"] for i in heads}) == 2

    aws.env["RAYCLUSTER_HOME"] = str(tmp_path / "third-state")
    out = aws.run("down", cfg, "-y", check=False)
    assert out.returncode != 0
    assert "takes none of them over" in out.stderr
    for i in heads:
        assert i["id"] in out.stderr
    assert len(live(aws.ec2, "twins")) == 2

    for home in (second, str(aws.home)):
        aws.env["RAYCLUSTER_HOME"] = home
        aws.run("down", cfg, "-y")
    assert live(aws.ec2, "twins") == []


def test_a_zone_without_capacity_is_skipped(aws):
    aws.ec2.set_faults({"capacity_errors": {"us-east-1a": "InsufficientInstanceCapacity"}})
    cfg = aws.config("zones", workers=2)
    aws.run("up", cfg, "-y")
    nodes = live(aws.ec2, "zones")
    assert len(nodes) == 3
    assert all(i["zone"] != "us-east-1a" for i in nodes)
    check_no_double_launch(aws.ec2, "zones")
    aws.run("down", cfg, "-y")
    assert live(aws.ec2, "zones") == []


def test_cache_stopped_nodes_stops_workers_and_restarts_them(aws):
    cfg = aws.config("cached", workers=1, cache_stopped_nodes=True)
    aws.run("up", cfg, "-y")
    aws.run("scale", cfg, "--workers", "3", "-y")
    aws.run("scale", cfg, "--workers", "1", "-y")
    stopped = [i for i in aws.ec2.instances()
               if i["tags"].get("ray-cluster-name") == "cached" and i["state"] in ("stopping", "stopped")]
    assert len(stopped) == 2
    assert len(aws.status(cfg)["nodes"]) == 2  # stopped workers are not nodes
    # Only stopped (not stopping) instances can be started again.
    deadline = time.time() + 30
    while any(i["state"] == "stopping" for i in aws.ec2.instances()) and time.time() < deadline:
        time.sleep(0.2)
    aws.run("scale", cfg, "--workers", "3", "-y")
    assert len([c for c in aws.ec2.calls() if c.get("action") == "StartInstances"]) >= 1
    ever = [i for i in aws.ec2.instances() if i["tags"].get("ray-cluster-name") == "cached"]
    assert len(ever) == 4  # the two stopped workers came back instead of two new ones
    aws.run("down", cfg, "-y")
    left = [i for i in aws.ec2.instances()
            if i["tags"].get("ray-cluster-name") == "cached" and i["state"] not in ("shutting-down", "terminated")]
    assert left == []
