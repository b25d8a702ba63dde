"""Resources from Compute's machineTypes: node types whose config leaves
`resources` empty get CPU, GPU, accelerator_type:* and (workers) memory from
machineTypes.get, read here with googleapiclient from the same emulator, and
the autoscaler launches a type that has never run for demand only that type
can hold. The config's own resources win."""
import json

from googleapiclient import discovery
from google.oauth2 import credentials as user_credentials
import googleapiclient

from conftest import IMAGE, PROJECT, TOKEN
import pathlib

DOCUMENT = (pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
            / "compute.v1.json").read_text()
ZONE = "us-central1-a"


def config(gcp, name):
    disks = ("disks: [{boot: true, autoDelete: true, initializeParams: {sourceImage: " + IMAGE + "}}]")
    provider = gcp.provider(zones=ZONE)
    lines = [f"cluster_name: {name}", "max_workers: 4", "autoscaler: local", "provider:"]
    lines += [f"  {k}: {v}" for k, v in provider.items()]
    lines += ["auth:", f"  ssh_user: {gcp.user}", f"  ssh_private_key: {gcp.key}",
              f"  ssh_port: {gcp.gce.ssh_port}",
              "available_node_types:",
              "  head:",
              "    resources: {}",
              f"    node_config: {{machineType: n1-standard-2, {disks}}}",
              "  cpu:",
              "    min_workers: 0",
              "    max_workers: 2",
              "    resources: {}",
              f"    node_config: {{machineType: e2-standard-4, {disks}}}",
              "  l4:",
              "    min_workers: 0",
              "    max_workers: 2",
              "    resources: {CPU: 3}",
              f"    node_config: {{machineType: g2-standard-8, {disks}}}",
              "head_node_type: head",
              "setup_commands:",
              f"  - echo setup >> {gcp.marks}/$RAY_CLOUD_INSTANCE_ID.setup",
              "head_start_ray_commands: [echo head]",
              "worker_start_ray_commands: [echo worker]"]
    path = gcp.tmp / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def expected(machine, head, own=None):
    """What a node of `machine` has, computed from googleapiclient's reading
    of machineTypes.get: Ray's rules for a described machine type."""
    gce = discovery.build_from_document(DOCUMENT, credentials=user_credentials.Credentials(TOKEN),
                                        client_options={"api_endpoint": expected.endpoint})
    m = gce.machineTypes().get(project=PROJECT, zone=ZONE, machineType=machine).execute()
    out = {"CPU": m["guestCpus"]}
    if not head:
        out["memory"] = int(m["memoryMb"] * 1024 * 1024 * (1 - 0.3))
    gpus = m.get("accelerators", [])
    if gpus:
        out["GPU"] = sum(a["guestAcceleratorCount"] for a in gpus)
        # The card Compute attaches as nvidia-l4 calls itself "NVIDIA L4";
        # Ray names it as its NVIDIA accelerator manager does.
        from ray._private.accelerators.nvidia_gpu import NvidiaGPUAcceleratorManager
        cards = {"nvidia-l4": "NVIDIA L4", "nvidia-tesla-a100": "NVIDIA A100-SXM4-40GB"}
        name = NvidiaGPUAcceleratorManager._gpu_name_to_accelerator_type(
            cards[gpus[0]["guestAcceleratorType"]])
        out[f"accelerator_type:{name}"] = 1
    out.update(own or {})
    return out


def test_empty_resources_are_filled_and_a_type_that_never_ran_takes_demand(gcp):
    expected.endpoint = gcp.gce.api_endpoint
    cfg = config(gcp, "fill")
    gcp.run("up", cfg, "-y")
    st = gcp.status(cfg)
    assert [n["kind"] for n in st["nodes"]] == ["head"], st["nodes"]
    types = {name: t["resources"] for name, t in st["node_types"].items()}
    assert types["head"] == expected("n1-standard-2", head=True)
    assert types["cpu"] == expected("e2-standard-4", head=False)
    assert types["l4"] == expected("g2-standard-8", head=False, own={"CPU": 3})
    assert types["l4"]["GPU"] == 1 and types["l4"]["accelerator_type:L4"] == 1
    # Kept in the cluster's folder per project/zone/type: `status` asks no more.
    cache = json.loads((gcp.home / "fill" / "machine_types.json").read_text())
    assert set(cache) == {f"{PROJECT}/{ZONE}/{t}" for t in
                          ("n1-standard-2", "e2-standard-4", "g2-standard-8")}
    gcp.gce.reset_calls()
    assert gcp.status(cfg)["node_types"] == st["node_types"]
    assert not [c for c in gcp.gce.calls() if c["method"] == "machineTypes.get"]

    # Demand only an L4 machine holds: the autoscaler launches that type,
    # which has never run, on what Compute said about it.
    gcp.run("request-resources", cfg, "--bundles", json.dumps([{"GPU": 1, "accelerator_type:L4": 0.01}]))
    out = gcp.run("monitor", cfg, "--once", "--json")
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    launched = [e for e in events if e.get("event") == "launch"]
    assert launched and all(e.get("node_type") == "l4" for e in launched), events
    assert not [e for e in events if e.get("event") == "infeasible"], events
    made = [i for i in gcp.gce.instances()
            if i["labels"].get("ray-cluster-name") == "fill" and i["labels"].get("ray-node-type") == "worker"]
    assert len(made) == 1 and made[0]["machine_type"].endswith("g2-standard-8"), made

    gcp.run("down", cfg, "-y")
    assert not [i for i in gcp.gce.instances()
                if i["labels"].get("ray-cluster-name") == "fill" and not i["gone"]
                and i["status"] != "TERMINATED"]
