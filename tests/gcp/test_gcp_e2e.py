"""`raycluster up / scale / status / down` on the Compute Engine emulator,
with real SSH into its sshd hosts.

Checked after each run: nothing leaked (no instance, firewall rule, service
account, custom role or policy binding of the cluster left), no requestId created more instances than its call asked
for, every instance carried the cluster's labels from its creating call, no
project-wide ssh-keys were ever written, and no firewall rule admits
0.0.0.0/0 or opens the dashboard's port.
"""
import collections
import json
import time

LAUNCH_METHODS = ("instances.insert", "instances.bulkInsert")


def cluster_instances(gce, name, states=("PROVISIONING", "STAGING", "RUNNING")):
    return [i for i in gce.instances()
            if i["labels"].get("ray-cluster-name") == name and i["status"] in states]


def launch_calls(gce):
    return [c for c in gce.calls() if c.get("method") in LAUNCH_METHODS]


def check_launches(gcp, name, machine="n1-standard-2"):
    """Every launch call carried the cluster's labels; no requestId made more
    instances than its call asked for. Returns the instances ever created."""
    state = gcp.gce.state()
    asked = collections.defaultdict(set)  # requestId -> counts asked with it
    for call in launch_calls(gcp.gce):
        body = call["body"]
        props = body.get("instanceProperties", body)
        labels = props.get("labels", {})
        assert labels.get("ray-cluster-name") == name, call
        assert labels.get("raycluster-id"), call
        assert labels.get("ray-node-type") in ("head", "worker"), call
        assert props["machineType"] == (machine if "count" in body else
                                        f"zones/{call['path'].split('/zones/')[1].split('/')[0]}"
                                        f"/machineTypes/{machine}"), call
        rid = call["query"]["requestId"]
        asked[rid].add(int(body.get("count", 1)))
    for rid, made in state["request_id_creations"].items():
        assert len(asked[rid]) == 1, f"requestId {rid} reused with counts {asked[rid]}"
        assert made <= next(iter(asked[rid])), f"requestId {rid} created {made} instances"
    created = [i for i in state["ever_created"] if i["labels"].get("ray-cluster-name") == name]
    assert all(i["request_id"] in state["request_id_creations"] for i in created)
    return created


def check_clean(gcp, name):
    assert cluster_instances(gcp.gce, name, states=("PROVISIONING", "STAGING", "RUNNING", "STOPPING",
                                                    "TERMINATED", "SUSPENDED")) == []
    assert [f["name"] for f in gcp.gce.firewalls()] == []
    assert not gcp.gce.project_ssh_keys_ever_set
    # Nor any service account, custom role or binding of the head's.
    iam = gcp.gce.iam.snapshot()
    assert [a for a in iam["accounts"] if a.startswith("raycluster-")] == []
    assert [r for r in gcp.gce.iam.live_roles() if "/roles/raycluster_" in r] == []
    assert [b for b in iam["policy"]["bindings"] if any("raycluster-" in m for m in b["members"])] == []


def run_lifecycle(gcp, name, **provider):
    cfg = gcp.config(name, workers=3, **provider)
    gcp.run("up", cfg, "-y")
    gcp.gce.assert_firewalls_safe()
    st = gcp.status(cfg)
    heads = [n for n in st["nodes"] if n["kind"] == "head"]
    workers = [n for n in st["nodes"] if n["kind"] == "worker"]
    assert len(heads) == 1 and len(workers) == 3
    assert all(n["status"] == "up-to-date" for n in st["nodes"])
    assert len(cluster_instances(gcp.gce, name)) == 4
    for n in st["nodes"]:
        assert (gcp.marks / f"{n['id']}.setup").exists(), f"{n['id']} was not set up"
        start = (gcp.marks / f"{n['id']}.start").read_text()
        assert ("head" in start) if n["kind"] == "head" else ("worker" in start)
    # The key is in each instance's metadata, for the configured user.
    for inst in cluster_instances(gcp.gce, name):
        assert inst["ssh_key_users"] == [gcp.user]
    ssh_rules = [f for f in gcp.gce.firewalls() if f["name"].endswith("-ssh")]
    assert len(ssh_rules) == 1 and ssh_rules[0]["sourceRanges"] == ["127.0.0.1/32"]

    gcp.run("scale", cfg, "--workers", "5", "-y")
    assert len([n for n in gcp.status(cfg)["nodes"] if n["kind"] == "worker"]) == 5
    gcp.run("scale", cfg, "--workers", "3", "-y")
    assert len([n for n in gcp.status(cfg)["nodes"] if n["kind"] == "worker"]) == 3
    assert len(cluster_instances(gcp.gce, name)) == 4

    created = check_launches(gcp, name)
    assert len(created) == 1 + 5  # the head, 3 workers, 2 more: each launched once

    gcp.run("down", cfg, "-y")
    check_clean(gcp, name)
    return cfg


def test_up_scale_status_down(gcp):
    run_lifecycle(gcp, "clean")


def test_up_scale_down_with_throttling_and_server_errors(gcp):
    # A third of the API calls fail with 429, 500 or 503, and some answers are
    # lost after the call took effect (a retried bulkInsert must not launch twice).
    gcp.gce.set_faults({"rate_limit_rate": 0.12, "error500_rate": 0.1, "error503_rate": 0.08,
                        "drop_after_effect_rate": 0.04, "seed": 7})
    run_lifecycle(gcp, "faulty")
    faults = collections.Counter(c.get("fault") for c in gcp.gce.calls() if c.get("fault"))
    assert faults["rate_limit"] + faults["error500"] + faults["error503"] > 0, faults


def test_a_zone_out_of_stock_is_skipped_and_remembered(gcp):
    gcp.gce.set_faults({"stockout": {"us-central1-a": "ZONE_RESOURCE_POOL_EXHAUSTED"}})
    cfg = gcp.config("zones", workers=3)
    gcp.run("up", cfg, "-y")
    nodes = cluster_instances(gcp.gce, "zones")
    assert len(nodes) == 4
    assert all(i["zone"] == "us-central1-b" for i in nodes)
    zones = [c["path"].split("/zones/")[1].split("/")[0] for c in launch_calls(gcp.gce)
             if c.get("status") == 200]
    # The head tried a first; the workers' launch went to b at once.
    assert zones[0] == "us-central1-a"
    assert zones.count("us-central1-a") == 1, zones
    check_launches(gcp, "zones")
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "zones")


def test_quota_stops_up_with_the_quota_named(gcp):
    gcp.gce.set_faults({"quota": {"CPUS": 4}})
    cfg = gcp.config("quota", workers=3)
    out = gcp.run("up", cfg, "-y", check=False)
    assert out.returncode != 0
    assert "quota" in out.stderr.lower() and "CPUS" in out.stderr
    gcp.gce.set_faults({})
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "quota")


def test_cache_stopped_nodes_stops_workers_and_starts_them_again(gcp):
    cfg = gcp.config("cached", workers=1, cache_stopped_nodes="true")
    gcp.run("up", cfg, "-y")
    gcp.run("scale", cfg, "--workers", "3", "-y")
    gcp.run("scale", cfg, "--workers", "1", "-y")
    stopped = cluster_instances(gcp.gce, "cached", states=("STOPPING", "TERMINATED"))
    assert len(stopped) == 2
    assert len(gcp.status(cfg)["nodes"]) == 2  # stopped workers are not nodes
    deadline = time.time() + 30
    while cluster_instances(gcp.gce, "cached", states=("STOPPING",)) and time.time() < deadline:
        time.sleep(0.2)
    gcp.run("scale", cfg, "--workers", "3", "-y")
    assert any(c.get("method") == "instances.start" for c in gcp.gce.calls())
    created = check_launches(gcp, "cached")
    assert len(created) == 4  # the two stopped workers came back instead of two new ones
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "cached")


def test_a_new_state_folder_takes_over_a_cluster_whose_folder_was_lost(gcp, tmp_path):
    cfg = gcp.config("lost", workers=1)
    gcp.run("up", cfg, "-y")
    launched = {i["name"] for i in cluster_instances(gcp.gce, "lost")}
    assert len(launched) == 2
    cloud_id = {i["labels"]["raycluster-id"] for i in cluster_instances(gcp.gce, "lost")}
    assert len(cloud_id) == 1

    gcp.env["RAYCLUSTER_HOME"] = str(tmp_path / "fresh-state")
    out = gcp.run("status", cfg, "--json")
    assert "takes it over" in out.stderr, out.stderr
    st = json.loads(out.stdout)
    assert {n["id"] for n in st["nodes"]} == launched
    assert st["cluster_id"] == cloud_id.pop()

    gcp.run("down", cfg, "-y")
    check_clean(gcp, "lost")
    gcp.env["RAYCLUSTER_HOME"] = str(gcp.home)
    gcp.run("down", cfg, "-y")


def test_two_clusters_of_one_name_keep_their_own_instances_and_firewalls(gcp, tmp_path):
    cfg = gcp.config("twins", workers=0)
    second = str(tmp_path / "second-state")
    gcp.env["RAYCLUSTER_HOME"] = second
    gcp.run("status", cfg)
    gcp.env["RAYCLUSTER_HOME"] = str(gcp.home)
    gcp.run("up", cfg, "-y")
    gcp.env["RAYCLUSTER_HOME"] = second
    gcp.run("up", cfg, "-y")
    heads = cluster_instances(gcp.gce, "twins")
    assert len(heads) == 2
    ids = {i["labels"]["raycluster-id"] for i in heads}
    assert len(ids) == 2
    assert len(gcp.gce.firewalls()) == 4

    gcp.run("down", cfg, "-y")  # the second folder's cluster only
    left = cluster_instances(gcp.gce, "twins")
    assert len(left) == 1
    (first_id,) = {i["labels"]["raycluster-id"] for i in left}
    assert sorted(f["name"] for f in gcp.gce.firewalls()) == [
        f"raycluster-{first_id}-internal", f"raycluster-{first_id}-ssh"]
    gcp.env["RAYCLUSTER_HOME"] = str(gcp.home)
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "twins")
