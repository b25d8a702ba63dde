"""The tutorial's flat GCP config (examples/gcp/flat.yaml) end to end with a
service-account key, against the Compute emulator and its token endpoint.

The config is taken as written; the test changes only what the emulator
needs: the project, region and zone, the SSH user and key its sshd hosts
accept, the commands that would install and start Ray (replaced by ones that
leave marks), and the key file `gcp_service_account_key` names, which the
test generates and registers with the emulator's TokenService. The Compute
endpoint comes from CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE, as for gcloud.
The flat dialect has no SSH port, so the emulator's hosts listen on port 22
of their own loopback addresses.

Checked: every token request was a jwt-bearer grant of that account that
verified, every Compute call carried a token the service issued (none
static, none refused), and nothing of the cluster is left after `down`.
"""
import getpass
import json
import subprocess
import time

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import PROJECT, ROOT, GcpEnv, GceEmulator
from rctest import ssh_key
from gcp.token import TokenService
from test_gcp_e2e import check_clean, check_launches, cluster_instances

EMAIL = "ray-sa@rc-test-project.iam.gserviceaccount.com"
ZONE = "us-central1-b"


@pytest.fixture
def sa(tmp_path):
    """A GcpEnv whose emulator accepts only tokens issued for a fresh
    service-account key (no static token)."""
    _, public = ssh_key(tmp_path)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = TokenService()
    tokens.add_service_account(EMAIL, private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with GceEmulator(project=PROJECT, region="us-central1", tokens=tokens,
                     provision_seconds=0.2, staging_seconds=0.2, stop_seconds=0.2,
                     delete_seconds=0.2, wait_seconds=2,
                     ssh={"authorized_keys": public, "port": 22,
                          "workdir": str(tmp_path / "hosts")}) as gce:
        env = GcpEnv(tmp_path, gce)
        key_file = tmp_path / "gcloud" / "ray-sa.json"
        key_file.parent.mkdir()
        key_file.write_text(json.dumps({
            "type": "service_account", "project_id": PROJECT, "private_key_id": "5f0c1e2d3b4a",
            "private_key": private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode(),
            "client_email": EMAIL, "client_id": "104729", "token_uri": f"{gce.url}/token"}))
        key_file.chmod(0o600)
        env.key_file = key_file
        env.env["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] = gce.api_endpoint
        yield env
        gce.set_faults({})


def flat_config(env, name):
    cfg = yaml.safe_load((ROOT / "examples" / "gcp" / "flat.yaml").read_text())
    assert cfg["provider"] == "gcp" and cfg["gcp_service_account_key"].endswith("ray-sa.json")
    cfg["cluster_name"] = name
    cfg["project_id"] = PROJECT
    cfg["region"] = "us-central1"
    cfg["zone"] = ZONE
    cfg["gcp_service_account_key"] = str(env.key_file)
    cfg["ssh_user"] = getpass.getuser()
    cfg["ssh_private_key"] = str(env.key)
    cfg["autoscaler"] = "local"  # test_gcp_iam.py runs it on the head
    marks = env.marks
    cfg["setup_commands"] = [f"echo setup >> {marks}/$RAY_CLOUD_INSTANCE_ID.setup"]
    cfg["head_start_ray_commands"] = [f"echo head >> {marks}/$RAY_CLOUD_INSTANCE_ID.start"]
    cfg["worker_start_ray_commands"] = [f"echo worker >> {marks}/$RAY_CLOUD_INSTANCE_ID.start"]
    path = env.tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def compute_calls(gce):
    return [c for c in gce.calls() if c["path"].startswith("/compute/")]


def check_tokens(env, allow_refused=()):
    """Token requests were jwt-bearer grants of the key that verified; every
    Compute call carried a token the service issued. Compute calls whose
    token is in `allow_refused` may have been refused with 401."""
    grants = env.gce.tokens.calls()
    assert grants, "the token endpoint was never asked"
    assert all((g["grant"], g["client_email"], g["ok"]) == ("jwt-bearer", EMAIL, True)
               for g in grants), grants
    issued = set(env.gce.tokens.issued())
    assert len(issued) == len(grants)
    calls = compute_calls(env.gce)
    assert calls
    for call in calls:
        assert call["token"] in issued, call
        assert call["status"] != 401 or call["token"] in allow_refused, call
    return calls


def test_flat_example_with_a_service_account_key(sa):
    path = flat_config(sa, "flat")
    sa.run("up", path, "-y")
    insts = cluster_instances(sa.gce, "flat")
    assert len(insts) == 2  # head + initial_workers: 1
    assert all(i["machine_type"].endswith("n1-standard-4") for i in insts)
    assert all(i["labels"]["team"] == "research" for i in insts)
    bulk = [c for c in sa.gce.calls() if c.get("method") in ("instances.bulkInsert", "instances.insert")]
    for call in bulk:
        props = call["body"].get("instanceProperties", call["body"])
        assert props["disks"][0]["initializeParams"]["sourceImage"].endswith("/family/common-cpu")
    st = sa.status(path)
    assert sorted(n["kind"] for n in st["nodes"]) == ["head", "worker"]
    assert all(n["status"] == "up-to-date" for n in st["nodes"])
    for n in st["nodes"]:
        assert (sa.marks / f"{n['id']}.setup").exists()
    sa.run("down", path, "-y")
    check_launches(sa, "flat", machine="n1-standard-4")
    check_clean(sa, "flat")
    check_tokens(sa)
    # The key's private half never reaches the output or the state folder.
    secret = json.loads(sa.key_file.read_text())["private_key"].splitlines()[1]
    for f in sa.home.rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f


def test_revoked_token_is_refreshed_once(sa):
    path = flat_config(sa, "revoked")
    sa.run("up", path, "-y")
    grants_before = len(sa.gce.tokens.calls())
    seen = {c["token"] for c in compute_calls(sa.gce)}
    # Revoke every token as soon as `scale` has made its first Compute call
    # with its own token, while it still has its launch and labels ahead.
    proc = subprocess.Popen([sa.bin, "scale", str(path), "--workers", "3", "-y"], env=sa.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if any(c["token"] not in seen for c in compute_calls(sa.gce)):
            break
        time.sleep(0.005)
    revoked = set(sa.gce.tokens.issued())
    sa.gce.tokens.revoke_all()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"scale exited {proc.returncode}\n{out}\n{err}"
    scale_calls = [c for c in compute_calls(sa.gce) if c["token"] not in seen]
    refused = [c for c in scale_calls if c["status"] == 401]
    assert refused, "no call of scale was refused after the revocation"
    assert all(c["token"] in revoked for c in refused)
    # One token for the run and one refresh, however many calls were refused.
    assert len(sa.gce.tokens.calls()) - grants_before == 2
    fresh = set(sa.gce.tokens.issued()) - revoked
    assert len(fresh) == 1
    after = scale_calls[scale_calls.index(refused[-1]) + 1:]
    assert after and all(c["token"] in fresh and c["status"] != 401 for c in after)
    assert len([n for n in sa.status(path)["nodes"] if n["kind"] == "worker"]) == 3
    sa.run("down", path, "-y")
    check_clean(sa, "revoked")
    check_tokens(sa, allow_refused=revoked)
