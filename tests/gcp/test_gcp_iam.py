"""The head autoscaler on GCP with least privilege: `up` makes the head a
service account of its own with a custom role of Compute permissions, bound
on the project under a condition that limits instance operations to the
cluster's instances; the head's autoscaler gets its tokens from its
instance's metadata server; `down` removes them all. A caller who may not
create them is refused before anything is launched, and nothing is left.

References: googleapiclient (built from the pinned discovery documents) for
the IAM and Resource Manager emulator, google-auth's compute_engine
credentials for the metadata server, and the emulator's permission replay:
every Compute call made with the account's token is checked against the
project's policy, conditions evaluated, and recorded.
"""
import os
import pathlib

# google-auth reads the metadata server's address when it is imported:
# never the real one's name.
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"

import google.auth.transport.requests  # noqa: E402
import google.oauth2.credentials  # noqa: E402
import pytest  # noqa: E402
from google.auth import compute_engine  # noqa: E402
from google.auth.compute_engine import _metadata  # noqa: E402
from googleapiclient.discovery import build  # noqa: E402
from googleapiclient.errors import HttpError  # noqa: E402

from conftest import IMAGE, PROJECT, TOKEN
from rctest import wait_for  # noqa: E402
from test_gcp_e2e import check_clean, cluster_instances  # noqa: E402

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def iam_env(gcp):
    gcp.env["CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM"] = gcp.gce.url + "/iam/"
    gcp.env["CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER"] = gcp.gce.url + "/cloudresourcemanager/"


def clients(gce, token=TOKEN):
    creds = google.oauth2.credentials.Credentials(token)
    kw = dict(credentials=creds, static_discovery=True)
    return (build("iam", "v1", client_options={"api_endpoint": gce.url + "/iam/"}, **kw),
            build("cloudresourcemanager", "v1", client_options={"api_endpoint": gce.url + "/cloudresourcemanager/"},
                  **kw),
            build("compute", "v1", client_options={"api_endpoint": gce.api_endpoint}, **kw))


def head_config(gcp, name):
    """Workers 1..2, the autoscaler at its default (head)."""
    path = gcp.config(name, workers=1, max_workers=2, autoscaler=None)
    assert "autoscaler:" not in path.read_text()
    return path


def iam_left(gce, account_part="raycluster-"):
    """What of raycluster's IAM resources is left in the project."""
    snap = gce.iam.snapshot()
    return {"accounts": [a for a in snap["accounts"] if a.startswith(account_part)],
            "roles": [r for r in gce.iam.live_roles() if "/roles/raycluster_" in r],
            "bindings": [b for b in snap["policy"]["bindings"]
                         if any(account_part in m for m in b.get("members", []))]}


def metadata_host(gce, instance_name):
    with gce.world.lock:
        inst = next(i for i in gce.world.instances.values() if i.name == instance_name)
        host = inst.host
    return host.metadata_server.host


def account_token(host, monkeypatch):
    """A token from the instance's metadata server at `host`, through google-auth."""
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)
    creds = compute_engine.Credentials()
    creds.refresh(google.auth.transport.requests.Request())
    return creds.service_account_email, creds.token


def test_iam_emulator_answers_googleapiclient_as_iam_does(gcp):
    iam, crm, _ = clients(gcp.gce)
    sa = iam.projects().serviceAccounts().create(
        name=f"projects/{PROJECT}", body={"accountId": "probe-account"}).execute()
    role = iam.projects().roles().create(parent=f"projects/{PROJECT}", body={
        "roleId": "probe_role", "role": {"includedPermissions": ["compute.instances.list"], "stage": "GA"}}).execute()
    policy = crm.projects().getIamPolicy(resource=PROJECT, body={}).execute()
    binding = {"role": role["name"], "members": [f"serviceAccount:{sa['email']}"],
               "condition": {"title": "t", "expression": 'resource.type != "compute.googleapis.com/Instance"'}}
    stale = dict(policy, bindings=policy["bindings"] + [binding])
    # Conditions need policy version 3.
    with pytest.raises(HttpError) as e:
        crm.projects().setIamPolicy(resource=PROJECT, body={"policy": stale}).execute()
    assert e.value.resp.status == 400
    crm.projects().setIamPolicy(resource=PROJECT, body={"policy": dict(stale, version=3)}).execute()
    # The etag read before that change is stale now: 409, read-modify-write again.
    with pytest.raises(HttpError) as e:
        crm.projects().setIamPolicy(resource=PROJECT, body={"policy": dict(stale, version=3)}).execute()
    assert e.value.resp.status == 409
    # Version 1 readers see the binding without its condition, marked.
    old = crm.projects().getIamPolicy(resource=PROJECT, body={}).execute()
    assert any("_withcond_" in b["role"] for b in old["bindings"])
    # A deleted role lingers, its id taken, until undeleted.
    iam.projects().roles().delete(name=role["name"]).execute()
    assert iam.projects().roles().get(name=role["name"]).execute()["deleted"] is True
    with pytest.raises(HttpError) as e:
        iam.projects().roles().create(parent=f"projects/{PROJECT}", body={"roleId": "probe_role"}).execute()
    assert e.value.resp.status == 409
    assert "deleted" not in iam.projects().roles().undelete(name=role["name"], body={}).execute()
    # Refusals are injectable per method, in Google's shape.
    gcp.gce.iam.deny.add("iam.projects.serviceAccounts.create")
    with pytest.raises(HttpError) as e:
        iam.projects().serviceAccounts().create(name=f"projects/{PROJECT}", body={"accountId": "probe-two"}).execute()
    assert e.value.resp.status == 403 and "iam.serviceAccounts.create" in str(e.value)


def test_head_autoscaler_runs_with_its_own_least_privilege_account(gcp, monkeypatch):
    iam_env(gcp)
    cfg = head_config(gcp, "least")
    up = gcp.run("up", cfg, "-y")
    out = up.stdout + up.stderr
    assert "runs only where `raycluster monitor` runs" not in out
    cluster_id = {i["labels"]["raycluster-id"] for i in cluster_instances(gcp.gce, "least")}.pop()

    # Account, role and binding: the account's description names the cluster.
    left = iam_left(gcp.gce)
    assert len(left["accounts"]) == 1 and len(left["roles"]) == 1 and len(left["bindings"]) == 1, left
    email = left["accounts"][0]
    iam, crm, compute = clients(gcp.gce)
    account = iam.projects().serviceAccounts().get(name=f"projects/{PROJECT}/serviceAccounts/{email}").execute()
    assert cluster_id in account["description"]
    role = iam.projects().roles().get(name=left["roles"][0]).execute()
    perms = set(role["includedPermissions"])
    assert perms and all(p.startswith("compute.") for p in perms), perms
    assert not perms & {"compute.firewalls.create", "compute.firewalls.update", "compute.firewalls.delete",
                        "compute.instances.setServiceAccount", "compute.projects.setCommonInstanceMetadata"}
    binding = left["bindings"][0]
    assert binding["members"] == [f"serviceAccount:{email}"]
    assert "compute.googleapis.com/Instance" in binding["condition"]["expression"]
    assert f"projects/{PROJECT}/zones/us-central1-a/instances/ray-least-" in binding["condition"]["expression"]

    # The head runs as the account; the workers as the config says (none).
    head = [i for i in cluster_instances(gcp.gce, "least") if i["labels"]["ray-node-type"] == "head"][0]
    inserts = [c for c in gcp.gce.calls() if c.get("method") == "instances.insert" and c.get("status") == 200]
    assert inserts[0]["body"]["serviceAccounts"] == [{"email": email, "scopes": [CLOUD_PLATFORM]}]
    st = gcp.status(cfg)
    assert st["autoscaler"]["site"] == "head" and st["autoscaler"]["alive"], st["autoscaler"]

    # Nothing secret reached the head: the caller's token is in none of its files.
    folder = next(pathlib.Path(gcp.tmp / "hosts").glob("*/home/.raycluster/autoscaler/least"))
    for f in folder.rglob("*"):
        if f.is_file() and f.stat().st_size < (1 << 20):
            assert TOKEN.encode() not in f.read_bytes(), f
    assert "gcp_credentials" not in (folder / "cluster.yaml").read_text()

    # Demand: the worker is preempted; the head autoscaler launches another
    # with the account's token from the metadata server.
    worker = [i for i in cluster_instances(gcp.gce, "least") if i["labels"]["ray-node-type"] == "worker"][0]
    gcp.gce.preempt(worker["name"])

    def account_launch():
        return [c for c in gcp.gce.calls() if c.get("method") == "instances.bulkInsert" and c.get("status") == 200
                and gcp.gce.iam.account_of(c.get("token")) == email]
    wait_for(account_launch, 90, "the head autoscaler to launch a worker")
    wait_for(lambda: len([i for i in cluster_instances(gcp.gce, "least", states=("RUNNING",))
                          if i["labels"]["ray-node-type"] == "worker"]) == 1, 60, "the new worker")

    # The permission replay: every Compute call the account made was allowed
    # by its role and condition, and the account made them all with
    # metadata tokens.
    decisions = [d for d in gcp.gce.iam.snapshot()["decisions"] if d["email"] == email]
    assert decisions and all(d["allowed"] for d in decisions), [d for d in decisions if not d["allowed"]]
    used = {d["method"] for d in decisions}
    assert {"instances.list", "instances.bulkInsert"} <= used, used
    by_account = [c for c in gcp.gce.calls() if gcp.gce.iam.account_of(c.get("token")) == email]
    assert by_account and all(c.get("status") in (200, None) for c in by_account), \
        [c for c in by_account if c.get("status") not in (200, None)]

    # google-auth reads the same metadata server; outside the role, refused.
    got_email, token = account_token(metadata_host(gcp.gce, head["name"]), monkeypatch)
    assert got_email == email
    _, _, as_head = clients(gcp.gce, token)
    as_head.instances().list(project=PROJECT, zone="us-central1-a").execute()
    compute.instances().insert(project=PROJECT, zone="us-central1-a", body={
        "name": "other-vm", "machineType": "zones/us-central1-a/machineTypes/e2-micro",
        "disks": [{"boot": True, "autoDelete": True, "initializeParams": {"sourceImage": IMAGE}}],
        "networkInterfaces": [{"network": "global/networks/default"}]}).execute()
    wait_for(lambda: [i for i in gcp.gce.instances() if i["name"] == "other-vm" and i["status"] == "RUNNING"],
             30, "the other instance")
    with pytest.raises(HttpError) as e:
        as_head.instances().delete(project=PROJECT, zone="us-central1-a", instance="other-vm").execute()
    assert e.value.resp.status == 403 and "compute.instances.delete" in str(e.value)
    iam_as_head, _, _ = clients(gcp.gce, token)
    with pytest.raises(HttpError) as e:
        iam_as_head.projects().serviceAccounts().create(name=f"projects/{PROJECT}",
                                                        body={"accountId": "escalate"}).execute()
    assert e.value.resp.status == 403
    compute.instances().delete(project=PROJECT, zone="us-central1-a", instance="other-vm").execute()

    down = gcp.run("down", cfg, "-y")
    lines = (down.stdout + down.stderr).splitlines()
    stop_at = next(i for i, line in enumerate(lines) if "stopping the head autoscaler" in line)
    end_at = next(i for i, line in enumerate(lines) if "terminating" in line)
    assert stop_at < end_at, lines
    check_clean(gcp, "least")
    assert iam_left(gcp.gce) == {"accounts": [], "roles": [], "bindings": []}
    # No binding is left to a deleted account either.
    assert not [b for b in gcp.gce.iam.snapshot()["policy"]["bindings"]
                if any(m.startswith("deleted:") for m in b["members"])]


@pytest.mark.parametrize("denied", ["iam.projects.serviceAccounts.create", "iam.projects.roles.create",
                                    "cloudresourcemanager.projects.setIamPolicy"])
def test_up_refuses_before_launching_when_iam_is_denied(gcp, denied):
    iam_env(gcp)
    gcp.gce.iam.deny.add(denied)
    cfg = head_config(gcp, "denied")
    out = gcp.run("up", cfg, "-y", check=False)
    assert out.returncode != 0
    short = denied.split(".", 1)[1] if denied.startswith("iam.") else denied.split(".", 1)[1]
    assert short.rsplit(".", 1)[0] in out.stderr, out.stderr
    assert "serviceAccounts" in out.stderr and "autoscaler: local" in out.stderr
    assert TOKEN not in out.stderr + out.stdout
    # Nothing launched, nothing created, nothing left.
    assert [i for i in gcp.gce.state()["ever_created"] if i["labels"].get("ray-cluster-name") == "denied"] == []
    assert gcp.gce.firewalls() == []
    assert iam_left(gcp.gce) == {"accounts": [], "roles": [], "bindings": []}
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "denied")


def test_a_service_account_of_the_users_is_used_and_never_removed(gcp):
    iam_env(gcp)
    iam, _, _ = clients(gcp.gce)
    mine = iam.projects().serviceAccounts().create(name=f"projects/{PROJECT}",
                                                    body={"accountId": "my-own-head"}).execute()["email"]
    cfg = head_config(gcp, "given")
    text = cfg.read_text().replace(
        "  head:\n    resources: {}\n    node_config: {",
        "  head:\n    resources: {}\n    node_config: {serviceAccounts: [{email: " + mine +
        ", scopes: [" + CLOUD_PLATFORM + "]}], ", 1)
    assert mine in text
    cfg.write_text(text)
    gcp.gce.iam.deny.update({"iam.projects.serviceAccounts.create", "iam.projects.roles.create"})
    gcp.run("up", cfg, "-y")
    assert not [c for c in gcp.gce.calls() if str(c.get("method", "")).startswith(("iam.", "cloudresource"))
                and c.get("method") != "iam.projects.serviceAccounts.create"]
    insert = [c for c in gcp.gce.calls() if c.get("method") == "instances.insert" and c.get("status") == 200][0]
    assert insert["body"]["serviceAccounts"][0]["email"] == mine
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "given")
    assert mine in gcp.gce.iam.snapshot()["accounts"]


# Sanitizer builds run the account and role life-cycle in the tests above.
@pytest.mark.once
def test_up_after_down_takes_the_deleted_role_back(gcp):
    # A deleted custom role keeps its id for 37 days: the second `up` of the
    # same cluster id undeletes it instead of failing on create. The policy's
    # read-modify-write is tried again after a concurrent change.
    iam_env(gcp)
    cfg = head_config(gcp, "again")
    gcp.gce.iam.races = 2  # and the policy changes twice under its first binding
    gcp.run("up", cfg, "-y")
    sets = [c["status"] for c in gcp.gce.calls() if c.get("method") == "cloudresourcemanager.projects.setIamPolicy"]
    assert sets == [409, 409, 200], sets
    (role,) = iam_left(gcp.gce)["roles"]
    gcp.run("down", cfg, "-y")
    assert gcp.gce.iam.snapshot()["roles"][role]["deleted"] is True
    gcp.gce.reset_calls()
    gcp.run("up", cfg, "-y")
    methods = [c.get("method") for c in gcp.gce.calls()]
    assert "iam.projects.roles.undelete" in methods and "iam.projects.roles.create" not in methods, methods
    left = iam_left(gcp.gce)
    assert left["roles"] == [role] and len(left["accounts"]) == 1 and len(left["bindings"]) == 1, left
    gcp.run("down", cfg, "-y")
    check_clean(gcp, "again")
    assert iam_left(gcp.gce) == {"accounts": [], "roles": [], "bindings": []}
