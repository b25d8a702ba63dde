"""The tutorial's GCP configs (examples/gcp/) against the Compute emulator.

Each example is taken as written; the test only points it at the emulator
(endpoint, an access token), at the user and key the emulator's sshd hosts
accept, and replaces the commands that would install and start Ray by ones
that leave marks, so the node_config the tutorial shows (disks, preemptible
scheduling, machine types, Ray's default "common-cpu" image family) goes
through Compute's own schema checks.
"""
import yaml

from conftest import ROOT, TOKEN


def localised(gcp, example, name):
    cfg = yaml.safe_load((ROOT / "examples" / "gcp" / example).read_text())
    cfg["cluster_name"] = name
    marks = gcp.marks
    cfg["setup_commands"] = [f"echo setup >> {marks}/$RAY_CLOUD_INSTANCE_ID.setup"]
    cfg["head_start_ray_commands"] = [f"echo head >> {marks}/$RAY_CLOUD_INSTANCE_ID.start"]
    cfg["worker_start_ray_commands"] = [f"echo worker >> {marks}/$RAY_CLOUD_INSTANCE_ID.start"]
    return cfg


def test_ray_schema_example_runs_on_the_emulator(gcp):
    cfg = localised(gcp, "cluster.yaml", "example")
    provider = cfg["provider"]
    assert provider["type"] == "gcp"
    provider["endpoint_url"] = gcp.gce.api_endpoint
    provider["gcp_credentials"] = {"type": "credentials_token", "credentials": TOKEN}
    provider["project_id"] = gcp.gce.project
    provider["region"] = gcp.gce.region
    provider["availability_zone"] = gcp.gce.region + "-b"
    cfg["auth"] = {"ssh_user": gcp.user, "ssh_private_key": str(gcp.key), "ssh_port": gcp.gce.ssh_port}
    cfg["available_node_types"]["ray_worker"]["min_workers"] = 1
    cfg["autoscaler"] = "local"  # test_gcp_iam.py runs it on the head
    for t in cfg["available_node_types"].values():
        for disk in t["node_config"]["disks"]:
            assert disk["initializeParams"]["sourceImage"].endswith("/family/common-cpu")
    path = gcp.tmp / "example.yaml"
    path.write_text(yaml.safe_dump(cfg))
    gcp.run("up", path, "-y")
    insts = [i for i in gcp.gce.instances() if i["labels"].get("ray-cluster-name") == "example"]
    assert sorted(i["labels"]["ray-node-type"] for i in insts) == ["head", "worker"]
    assert all(i["machine_type"].endswith("n1-standard-4") for i in insts)
    bulk = [c for c in gcp.gce.calls() if c.get("method") == "instances.bulkInsert"]
    assert bulk and bulk[0]["body"]["instanceProperties"]["scheduling"]["preemptible"] is True
    # Ray's own image family, which the emulator's catalog resolves.
    disk = bulk[0]["body"]["instanceProperties"]["disks"][0]
    assert disk["initializeParams"]["sourceImage"].endswith("deeplearning-platform-release/global/images/family/common-cpu")
    st = gcp.status(path)
    assert all(n["status"] == "up-to-date" for n in st["nodes"])
    gcp.run("down", path, "-y")
    assert [i for i in gcp.gce.instances() if i["labels"].get("ray-cluster-name") == "example"] == []
    assert gcp.gce.firewalls() == []
