"""The Compute Engine emulator, driven by Google's own client.

googleapiclient builds its client from the same discovery document the
emulator checks requests against, and reads every answer here: a test that
reads a field through it is also a test of the answer's shape. Requests the
client would refuse to build (unknown fields, wrong types) go out raw with
http.client. Tokens come from the token service of the same server, either
static or obtained with a service-account key through google-auth.
"""
import getpass
import http.client
import importlib.metadata
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid

import googleapiclient
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import HttpError

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "support"))
from gcp import GceEmulator  # noqa: E402
from gcp.token import TokenService  # noqa: E402
import sshd as sshd_support  # noqa: E402

PROJECT, REGION, ZONE = "rc-test-project", "us-central1", "us-central1-a"
TOKEN = "static-test-token"
SERVICE_ACCOUNT = "raycluster@rc-test-project.iam.gserviceaccount.com"
IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
DOCUMENT = (pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
            / "compute.v1.json").read_text()
TIMINGS = dict(provision_seconds=0.1, staging_seconds=0.1, stop_seconds=0.1, delete_seconds=0.1,
               pending_seconds=0.02, quick_seconds=0.02, wait_seconds=2.0)


# -- helpers ---------------------------------------------------------------------------

def make_client(emu, creds=None):
    return discovery.build_from_document(DOCUMENT, credentials=creds or user_credentials.Credentials(TOKEN),
                                         client_options={"api_endpoint": emu.api_endpoint})


def instance_body(name, machine_type=f"zones/{ZONE}/machineTypes/n1-standard-2", labels=None, metadata=None,
                  nat=True):
    nic = {"network": "global/networks/default"}
    if nat:
        nic["accessConfigs"] = [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}]
    body = {"name": name, "machineType": machine_type,
            "disks": [{"boot": True, "autoDelete": True, "initializeParams": {"sourceImage": IMAGE}}],
            "networkInterfaces": [nic]}
    if labels:
        body["labels"] = labels
    if metadata:
        body["metadata"] = {"items": [{"key": k, "value": v} for k, v in metadata.items()]}
    return body


def wait_op(gce, op, zone=ZONE):
    """Waits (with zoneOperations.wait, as often as needed) until DONE."""
    for _ in range(30):
        if op["status"] == "DONE":
            return op
        op = gce.zoneOperations().wait(project=PROJECT, zone=zone, operation=op["name"]).execute()
    raise AssertionError(f"operation {op['name']} not DONE")


def insert(gce, name, zone=ZONE, **kwargs):
    return gce.instances().insert(project=PROJECT, zone=zone, body=instance_body(name, **kwargs)).execute()


def get(gce, name, zone=ZONE):
    return gce.instances().get(project=PROJECT, zone=zone, instance=name).execute()


def raw(emu, method, path, body=None, token=TOKEN, headers=None):
    """(status, parsed JSON or text) of a request sent as it is."""
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        sent = {"Content-Type": "application/json"}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def api_path(rest):
    return f"/compute/v1/projects/{PROJECT}/{rest}"


def http_error(excinfo):
    error = json.loads(excinfo.value.content)["error"]
    return excinfo.value.resp.status, error["errors"][0]["reason"], error["message"]


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def emu():
    with GceEmulator(PROJECT, REGION, tokens=TokenService(), access_tokens=[TOKEN], **TIMINGS) as emulator:
        yield emulator


@pytest.fixture
def gce(emu):
    return make_client(emu)


# -- tokens --------------------------------------------------------------------------------

def test_requests_need_a_token_the_token_service_accepts(emu):
    status, answer = raw(emu, "GET", api_path("zones"), token=None)
    assert status == 401 and answer["error"]["errors"][0]["reason"] == "authError"
    assert raw(emu, "GET", api_path("zones"), token="forged")[0] == 401
    emu.tokens.revoke(TOKEN)
    assert raw(emu, "GET", api_path("zones"))[0] == 401


def service_account_key():
    """(public PEM, credentials-info maker) of a fresh service-account key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()

    def credentials(token_uri):
        return service_account.Credentials.from_service_account_info(
            {"type": "service_account", "client_email": SERVICE_ACCOUNT, "private_key": private,
             "private_key_id": "k1", "token_uri": token_uri, "project_id": PROJECT},
            scopes=["https://www.googleapis.com/auth/compute"])
    return public, credentials


def test_service_account_key_gets_a_token_from_the_same_server():
    public, credentials = service_account_key()
    with GceEmulator(PROJECT, REGION, tokens=TokenService({SERVICE_ACCOUNT: public}), **TIMINGS) as emu:
        creds = credentials(emu.url + "/token")
        zones = make_client(emu, creds).zones().list(project=PROJECT).execute()
        assert [z["name"] for z in zones["items"]] == [f"{REGION}-a", f"{REGION}-b", f"{REGION}-c"]
        assert [c["method"] for c in emu.calls()] == ["token", "zones.list"]


# -- the discovery document ------------------------------------------------------------------

BAD_REQUESTS = [
    ("POST", "zones/us-central1-a/instances", {**instance_body("x1"), "colour": "red"}, "invalid",
     "resource.colour"),
    ("POST", "zones/us-central1-a/instances", {**instance_body("x1"), "canIpForward": "yes"}, "invalid",
     "resource.canIpForward"),
    ("POST", "zones/us-central1-a/instances",
     {**instance_body("x1"), "networkInterfaces": [{"accessConfigs": [{"type": "TWO_TO_ONE"}]}]}, "invalid",
     "resource.networkInterfaces[0].accessConfigs[0].type"),
    ("POST", "zones/us-central1-a/instances", {k: v for k, v in instance_body("x").items() if k != "name"},
     "required", "resource.name"),
    ("POST", "zones/us-central1-a/instances", {**instance_body("x1"), "disks": {"boot": True}}, "invalid",
     "resource.disks"),
    ("POST", "zones/us-central1-a/instances", None, "required", "resource"),
    ("GET", "zones/us-central1-a/instances?maxResult=5", None, "invalid", "maxResult"),
    ("GET", "zones/us-central1-a/instances?maxResults=many", None, "invalid", "maxResults"),
    ("GET", "zones/us-central1-a/instances?maxResults=501", None, "invalid", "maxResults"),
    ("POST", "zones/us-central1-a/instances/x1/stop?discardLocalSsd=maybe", None, "invalid", "discardLocalSsd"),
    ("GET", "zones/US_CENTRAL/instances", None, "invalid", "zone"),
    ("GET", "zones/us-central1-q/instances", None, "invalid", "zone"),
    ("POST", "zones/us-central1-a/instances?requestId=not-a-uuid", instance_body("x1"), "invalid", "requestId"),
]


@pytest.mark.parametrize("method, rest, body, reason, field", BAD_REQUESTS)
def test_requests_outside_the_discovery_document_are_400_naming_the_field(emu, method, rest, body, reason,
                                                                           field):
    status, answer = raw(emu, method, api_path(rest), body)
    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == 400 and error["errors"][0]["reason"] == reason
    assert field in error["message"] or error["errors"][0].get("location") == field, error
    assert emu.instances() == []


def test_the_document_comes_from_the_pinned_client():
    pins = dict(line.split("==") for line in (HERE.parents[1] / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert importlib.metadata.version("google-api-python-client") == pins["google-api-python-client"]
    assert GceEmulator.__module__ == "gcp.emulator"
    from gcp.discovery import document_path
    assert pathlib.Path(document_path()).read_text() == DOCUMENT


def test_answers_are_held_to_the_response_schema(emu):
    method = emu.discovery.methods["compute.instances.get"]
    emu.discovery.check_response(method, {"name": "x", "status": "RUNNING", "labels": {"a": "b"}})
    for bad in ({"name": "x", "colour": "red"}, {"status": "BOOTING"}, {"networkInterfaces": {}},
                {"labels": {"a": 1}}):
        with pytest.raises(ValueError):
            emu.discovery.check_response(method, bad)


def test_malformed_json_and_unknown_paths(emu):
    assert raw(emu, "POST", api_path("zones/us-central1-a/instances"), b"{not json")[1]["error"]["errors"][0][
        "reason"] == "parseError"
    assert raw(emu, "GET", api_path("zones/us-central1-a/gadgets"))[0] == 404
    assert raw(emu, "DELETE", api_path("zones/us-central1-a/instances"))[0] == 405
    assert raw(emu, "POST", api_path("zones/us-central1-a/instances/none/stop"), {"force": True})[0] == 400
    assert raw(emu, "POST", api_path("zones/us-central1-a/instances/none/stop"), {})[0] == 404
    status, answer = raw(emu, "GET", "/compute/v1/projects/someone-else/zones/us-central1-a/instances")
    assert status == 404 and answer["error"]["errors"][0]["reason"] == "notFound"


# -- operations and the instance life cycle ---------------------------------------------------

def test_insert_operation_and_instance_go_through_their_states():
    timings = dict(TIMINGS, provision_seconds=0.8, staging_seconds=0.8, delete_seconds=0.8)  # see each state
    with GceEmulator(PROJECT, REGION, tokens=TokenService(), access_tokens=[TOKEN], **timings) as emu:
        _life_cycle(emu, make_client(emu))


def _life_cycle(emu, gce):
    op = insert(gce, "life-1", labels={"ray-cluster-name": "c1"})
    assert op["status"] in ("PENDING", "RUNNING") and op["operationType"] == "insert"
    assert op["targetLink"].endswith(f"/zones/{ZONE}/instances/life-1")
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and seen[-1:] != ["RUNNING"]:
        op_status = gce.zoneOperations().get(project=PROJECT, zone=ZONE, operation=op["name"]).execute()["status"]
        status = get(gce, "life-1")["status"]
        if seen[-1:] != [status]:
            seen.append(status)
        assert op_status != "DONE" or status == "RUNNING"  # the operation is DONE once the instance runs
    assert seen == ["PROVISIONING", "STAGING", "RUNNING"]
    done = wait_op(gce, gce.zoneOperations().get(project=PROJECT, zone=ZONE, operation=op["name"]).execute())
    assert "error" not in done and done["progress"] == 100 and done["endTime"] >= done["startTime"]
    inst = get(gce, "life-1")
    nic = inst["networkInterfaces"][0]
    assert nic["networkIP"].startswith("127.79.") and nic["accessConfigs"][0]["natIP"].startswith("127.79.")
    assert inst["machineType"].endswith("/machineTypes/n1-standard-2") and inst["labels"] == {"ray-cluster-name": "c1"}

    stop = wait_op(gce, gce.instances().stop(project=PROJECT, zone=ZONE, instance="life-1").execute())
    assert "error" not in stop and get(gce, "life-1")["status"] == "TERMINATED"
    wait_op(gce, gce.instances().start(project=PROJECT, zone=ZONE, instance="life-1").execute())
    assert get(gce, "life-1")["status"] == "RUNNING"
    delete = gce.instances().delete(project=PROJECT, zone=ZONE, instance="life-1").execute()
    assert get(gce, "life-1")["status"] == "STOPPING"
    wait_op(gce, delete)
    with pytest.raises(HttpError) as excinfo:
        get(gce, "life-1")
    assert http_error(excinfo)[:2] == (404, "notFound")


def test_stop_or_delete_while_provisioning_ends_the_insert_operation(emu, gce):
    inserted = [insert(gce, "early-1"), insert(gce, "early-2")]
    stop = gce.instances().stop(project=PROJECT, zone=ZONE, instance="early-1").execute()
    delete = gce.instances().delete(project=PROJECT, zone=ZONE, instance="early-2").execute()
    for op in inserted + [stop, delete]:
        assert wait_op(gce, op)["status"] == "DONE"
    assert emu.instances()[0]["status"] == "TERMINATED" and names(emu) == ["early-1"]


def test_preemption_stops_or_deletes_a_spot_instance(emu, gce):
    wait_op(gce, insert(gce, "spot-stop"))
    deleting = instance_body("spot-del")
    deleting["scheduling"] = {"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE"}
    wait_op(gce, gce.instances().insert(project=PROJECT, zone=ZONE, body=deleting).execute())
    status, answer = raw(emu, "POST", "/_emulator/preempt", {"instance": "spot-stop", "zone": ZONE}, token=None)
    assert status == 200
    op = gce.zoneOperations().get(project=PROJECT, zone=ZONE, operation=answer["operation"]).execute()
    assert op["operationType"] == "compute.instances.preempted"
    wait_op(gce, op)
    wait_op(gce, gce.zoneOperations().get(project=PROJECT, zone=ZONE, operation=emu.preempt("spot-del")).execute())
    assert [(i["name"], i["status"]) for i in emu.instances()] == [("spot-stop", "TERMINATED")]
    assert raw(emu, "POST", "/_emulator/preempt", {"instance": "spot-stop"}, token=None)[0] == 400


def test_wait_returns_at_its_deadline_before_done(emu, gce):
    emu.wait_seconds = 0.3
    emu.set_faults({"operation_delay_seconds": {"instances.insert": 1.5}})
    op = insert(gce, "slow-1")
    started = time.monotonic()
    waited = gce.zoneOperations().wait(project=PROJECT, zone=ZONE, operation=op["name"]).execute()
    assert waited["status"] != "DONE" and time.monotonic() - started >= 0.25
    assert wait_op(gce, waited)["status"] == "DONE"


def test_insert_checks_names_types_images_and_the_machine_type_url(emu, gce):
    for body, reason, status in [
        (instance_body("ok-1", machine_type="n1-standard-1"), "invalid", 400),  # bare name: not in insert
        (instance_body("ok-1", machine_type=f"zones/{REGION}-b/machineTypes/n1-standard-1"), "invalid", 400),
        (instance_body("ok-1", machine_type=f"zones/{ZONE}/machineTypes/n9-huge"), "notFound", 404),
        (instance_body("Bad_Name"), "invalid", 400),
        ({**instance_body("ok-1"), "disks": [{"boot": True, "initializeParams": {
            "sourceImage": "projects/ubuntu-os-cloud/global/images/family/windows-95"}}]}, "notFound", 404),
    ]:
        with pytest.raises(HttpError) as excinfo:
            gce.instances().insert(project=PROJECT, zone=ZONE, body=body).execute()
        assert http_error(excinfo)[:2] == (status, reason), body
    full = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-medium"
    wait_op(gce, insert(gce, "ok-1", machine_type=full))
    with pytest.raises(HttpError) as excinfo:
        insert(gce, "ok-1")
    assert http_error(excinfo)[:2] == (409, "alreadyExists")
    assert get(gce, "ok-1")["machineType"].endswith("/machineTypes/e2-medium")


def test_request_id_makes_a_retry_return_the_same_operation(emu, gce):
    request_id = str(uuid.uuid4())
    first = gce.instances().insert(project=PROJECT, zone=ZONE, body=instance_body("dup-1"),
                                   requestId=request_id).execute()
    again = gce.instances().insert(project=PROJECT, zone=ZONE, body=instance_body("dup-1"),
                                   requestId=request_id).execute()
    assert again["name"] == first["name"]
    state = emu.state()
    assert state["request_id_creations"] == {request_id: 1}
    assert [i["name"] for i in state["ever_created"]] == ["dup-1"]


def test_lost_answer_then_retry_with_the_same_request_id(emu, gce):
    emu.set_faults({"drop_after_effect_rate": 1.0, "methods": ["instances.insert"]})
    request_id = str(uuid.uuid4())
    path = api_path(f"zones/{ZONE}/instances?requestId={request_id}")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw(emu, "POST", path, instance_body("lost-1"))
    emu.set_faults({})
    status, op = raw(emu, "POST", path, instance_body("lost-1"))
    assert status == 200 and op["operationType"] == "insert"
    assert emu.state()["request_id_creations"] == {request_id: 1}
    assert [c["fault"] for c in emu.calls()] == ["drop_after_effect", None]


# -- bulkInsert ------------------------------------------------------------------------------

def bulk(gce, count, min_count=None, pattern="ray-node-####", machine_type="n1-standard-1", zone=ZONE,
         labels=None, per_instance=None):
    body = {"count": str(count), "instanceProperties": {
        "machineType": machine_type,
        "disks": [{"boot": True, "autoDelete": True, "initializeParams": {"sourceImage": IMAGE}}],
        "networkInterfaces": [{"network": "global/networks/default"}], "labels": labels or {}}}
    if pattern:
        body["namePattern"] = pattern
    if min_count is not None:
        body["minCount"] = str(min_count)
    if per_instance:
        body["perInstanceProperties"] = {n: {} for n in per_instance}
    return gce.instances().bulkInsert(project=PROJECT, zone=zone, body=body).execute()


def names(emu):
    return sorted(i["name"] for i in emu.instances())


def test_bulk_insert_numbers_names_after_existing_ones(emu, gce):
    op = wait_op(gce, bulk(gce, 3))
    assert "error" not in op and names(emu) == ["ray-node-0001", "ray-node-0002", "ray-node-0003"]
    status = op["instancesBulkInsertOperationMetadata"]["perLocationStatus"][f"zones/{ZONE}"]
    assert status["createdVmCount"] == 3 and status["status"] == "DONE"
    wait_op(gce, bulk(gce, 2, per_instance=["head-a"]))
    assert names(emu) == ["head-a", "ray-node-0001", "ray-node-0002", "ray-node-0003", "ray-node-0004"]
    assert all(i["status"] == "RUNNING" for i in emu.instances())


def test_bulk_insert_min_count_is_all_or_nothing(emu, gce):
    emu.set_faults({"zone_capacity": {ZONE: 2}})
    op = wait_op(gce, bulk(gce, 3, min_count=3))
    assert op["error"]["errors"][0]["code"] == "VM_MIN_COUNT_NOT_REACHED"
    assert names(emu) == [] and emu.state()["ever_created"] == []
    op = wait_op(gce, bulk(gce, 3, min_count=2))
    assert "error" not in op and len(names(emu)) == 2
    # A stopped instance frees its place, and starting it needs one again.
    wait_op(gce, gce.instances().stop(project=PROJECT, zone=ZONE, instance="ray-node-0001").execute())
    wait_op(gce, insert(gce, "single-1"))
    done = wait_op(gce, gce.instances().start(project=PROJECT, zone=ZONE, instance="ray-node-0001").execute())
    assert done["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED"
    done = wait_op(gce, insert(gce, "single-2"))
    assert done["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED"
    assert names(emu) == ["ray-node-0001", "ray-node-0002", "single-1"]


def test_bulk_insert_wants_a_bare_machine_type(emu, gce):
    url = f"zones/{ZONE}/machineTypes/n1-standard-1"
    op = wait_op(gce, bulk(gce, 2, machine_type=url))
    assert op["error"]["errors"][0]["code"] == "INTERNAL_ERROR" and names(emu) == []
    with pytest.raises(HttpError) as excinfo:
        bulk(gce, 2, pattern=None)
    assert http_error(excinfo)[:2] == (400, "invalid") and "namePattern" in http_error(excinfo)[2]


def test_list_pages_over_more_than_500_instances(emu, gce):
    wait_op(gce, bulk(gce, 503, pattern="many-###", labels={"batch": "big"}))
    wait_op(gce, insert(gce, "other-1"))
    request = gce.instances().list(project=PROJECT, zone=ZONE, filter='labels.batch = "big"')
    pages = []
    while request is not None:
        answer = request.execute()
        pages.append([i["name"] for i in answer.get("items", [])])
        request = gce.instances().list_next(request, answer)
    assert [len(p) for p in pages] == [500, 3]
    assert sorted(sum(pages, [])) == [f"many-{n:03d}" for n in range(1, 504)]
    answer = gce.instances().list(project=PROJECT, zone=ZONE, maxResults=7).execute()
    assert len(answer["items"]) == 7 and "nextPageToken" in answer
    # Instances deleted between two pages shift nothing: the token names the last one given.
    for name in ("many-001", "many-002", "many-009"):
        gce.instances().delete(project=PROJECT, zone=ZONE, instance=name).execute()
    wait_for(lambda: "many-009" not in names(emu))
    second = gce.instances().list(project=PROJECT, zone=ZONE, maxResults=7, pageToken=answer["nextPageToken"])
    assert [i["name"] for i in second.execute()["items"]] == [f"many-{n:03d}" for n in (8, 10, 11, 12, 13, 14, 15)]
    newest = gce.instances().list(project=PROJECT, zone=ZONE, maxResults=2, orderBy="creationTimestamp desc")
    assert [i["name"] for i in newest.execute()["items"]] == ["other-1", "many-503"]
    with pytest.raises(HttpError) as excinfo:
        gce.instances().list(project=PROJECT, zone=ZONE, pageToken="bogus").execute()
    assert http_error(excinfo)[:2] == (400, "invalid")


# -- filters, labels and metadata ------------------------------------------------------------------

def test_label_filters(emu, gce):
    for name, labels in [("f-1", {"cluster": "a", "kind": "head"}), ("f-2", {"cluster": "a", "kind": "worker"}),
                         ("f-3", {"cluster": "b", "kind": "worker"})]:
        wait_op(gce, insert(gce, name, labels=labels))
    wait_op(gce, gce.instances().stop(project=PROJECT, zone=ZONE, instance="f-2").execute())

    def listed(expression):
        answer = gce.instances().list(project=PROJECT, zone=ZONE, filter=expression).execute()
        return [i["name"] for i in answer.get("items", [])]
    assert listed('labels.cluster = "a"') == ["f-1", "f-2"]
    assert listed('(labels.cluster = "a") AND (labels.kind = "worker")') == ["f-2"]
    assert listed('labels.cluster != "a"') == ["f-3"]
    assert listed("(labels.cluster = a) (status = RUNNING)") == ["f-1"]
    assert listed("status = TERMINATED") == ["f-2"]
    assert listed("labels.kind:*") == ["f-1", "f-2", "f-3"]
    # The shape Ray's own GCP provider sends: AND of parenthesised groups, ORs of states.
    ray_style = ('((labels.kind = worker)) AND ((status = PROVISIONING) OR (status = STAGING) OR '
                 '(status = RUNNING)) AND (labels.cluster = a)')
    assert listed(ray_style) == []
    assert listed(ray_style.replace("worker", "head")) == ["f-1"]
    assert listed('NOT labels.cluster="a"') == ["f-3"] and listed('labels.kind eq "w.*"') == ["f-2", "f-3"]
    with pytest.raises(HttpError) as excinfo:
        listed('(labels.cluster = "a"')
    assert http_error(excinfo)[:2] == (400, "invalid")
    agg = gce.instances().aggregatedList(project=PROJECT, filter='labels.kind = "worker"').execute()
    assert sorted(i["name"] for i in agg["items"][f"zones/{ZONE}"]["instances"]) == ["f-2", "f-3"]
    assert "warning" in agg["items"][f"zones/{REGION}-b"]


def test_set_labels_and_metadata_need_the_current_fingerprint(emu, gce):
    wait_op(gce, insert(gce, "fp-1", labels={"a": "1"}, metadata={"startup": "x"}))
    inst = get(gce, "fp-1")
    stale = inst["labelFingerprint"]
    wait_op(gce, gce.instances().setLabels(project=PROJECT, zone=ZONE, instance="fp-1",
                                           body={"labels": {"a": "2"}, "labelFingerprint": stale}).execute())
    assert get(gce, "fp-1")["labels"] == {"a": "2"}
    with pytest.raises(HttpError) as excinfo:
        gce.instances().setLabels(project=PROJECT, zone=ZONE, instance="fp-1",
                                  body={"labels": {"a": "3"}, "labelFingerprint": stale}).execute()
    assert http_error(excinfo)[:2] == (412, "conditionNotMet")
    with pytest.raises(HttpError) as excinfo:
        gce.instances().setLabels(project=PROJECT, zone=ZONE, instance="fp-1",
                                  body={"labels": {"Bad Key": "x"},
                                        "labelFingerprint": get(gce, "fp-1")["labelFingerprint"]}).execute()
    assert http_error(excinfo)[:2] == (400, "invalid")
    metadata = get(gce, "fp-1")["metadata"]
    assert metadata["items"] == [{"key": "startup", "value": "x"}]
    new = {"fingerprint": metadata["fingerprint"], "items": [{"key": "startup", "value": "y"}]}
    wait_op(gce, gce.instances().setMetadata(project=PROJECT, zone=ZONE, instance="fp-1", body=new).execute())
    with pytest.raises(HttpError) as excinfo:
        gce.instances().setMetadata(project=PROJECT, zone=ZONE, instance="fp-1", body=new).execute()
    assert http_error(excinfo)[:2] == (412, "conditionNotMet")
    assert emu.instances()[0]["metadata"] == {"startup": "y"}


def test_project_wide_ssh_keys_are_recorded(emu, gce):
    project = gce.projects().get(project=PROJECT).execute()
    assert emu.project_ssh_keys_ever_set is False
    body = {"fingerprint": project["commonInstanceMetadata"]["fingerprint"],
            "items": [{"key": "ssh-keys", "value": "ubuntu:ssh-ed25519 AAAA test"}]}
    gce.projects().setCommonInstanceMetadata(project=PROJECT, body=body).execute()
    assert emu.project_ssh_keys_ever_set is True and emu.state()["project_ssh_keys_set"] is True


# -- faults ------------------------------------------------------------------------------------------

def test_stockout_is_delivered_on_the_done_operation(emu, gce):
    emu.set_faults({"stockout": {ZONE: "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                                 f"{REGION}-c": "ZONE_RESOURCE_POOL_EXHAUSTED"}})
    op = insert(gce, "gpu-1", machine_type=f"zones/{ZONE}/machineTypes/a2-highgpu-1g")
    assert "error" not in op
    done = wait_op(gce, op)
    error = done["error"]["errors"][0]
    assert error["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" and done["httpErrorStatusCode"] == 503
    info = next(d["errorInfo"] for d in error["errorDetails"] if "errorInfo" in d)
    assert info["metadatas"]["zonesAvailable"] == f"{REGION}-b" and info["metadatas"]["vmType"] == "a2-highgpu-1g"
    assert names(emu) == []
    done = wait_op(gce, insert(gce, "cpu-1", zone=f"{REGION}-c",
                               machine_type=f"zones/{REGION}-c/machineTypes/n1-standard-1"), zone=f"{REGION}-c")
    assert done["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED"
    wait_op(gce, insert(gce, "cpu-1", zone=f"{REGION}-b",
                        machine_type=f"zones/{REGION}-b/machineTypes/n1-standard-1"), zone=f"{REGION}-b")
    assert names(emu) == ["cpu-1"]


def test_quota_sync_and_on_the_operation(emu, gce):
    emu.set_faults({"quota": {"CPUS": 4}})
    wait_op(gce, insert(gce, "q-1"))  # 2 CPUs
    with pytest.raises(HttpError) as excinfo:
        insert(gce, "q-2", machine_type=f"zones/{ZONE}/machineTypes/n1-standard-4")
    status, reason, message = http_error(excinfo)
    assert (status, reason) == (403, "quotaExceeded") and "CPUS" in message
    emu.set_faults({"quota": {"CPUS": 4}, "quota_mode": "operation"})
    done = wait_op(gce, insert(gce, "q-3", machine_type=f"zones/{ZONE}/machineTypes/n1-standard-4"))
    assert done["error"]["errors"][0]["code"] == "QUOTA_EXCEEDED" and done["httpErrorStatusCode"] == 403
    assert names(emu) == ["q-1"]


@pytest.mark.parametrize("key, status, reason", [("rate_limit_rate", 429, "rateLimitExceeded"),
                                                 ("error500_rate", 500, "backendError"),
                                                 ("error503_rate", 503, "backendError")])
def test_injected_errors_happen_before_the_effect(emu, gce, key, status, reason):
    emu.set_faults({key: 1.0})
    with pytest.raises(HttpError) as excinfo:
        insert(gce, "inj-1")
    assert http_error(excinfo)[:2] == (status, reason)
    assert emu.state()["ever_created"] == [] and emu.calls()[-1]["fault"] is not None


def test_dropped_connection_creates_nothing_and_latency_is_added(emu):
    emu.set_faults({"drop_rate": 1.0})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw(emu, "POST", api_path(f"zones/{ZONE}/instances"), instance_body("drop-1"))
    assert emu.state()["ever_created"] == []
    emu.set_faults({"latency_ms": {"zones.list": 200}})
    started = time.monotonic()
    assert raw(emu, "GET", api_path("zones"))[0] == 200
    assert time.monotonic() - started >= 0.2
    emu.set_faults({"sync_errors": {"instances.delete": "RESOURCE_NOT_READY"}})
    status, answer = raw(emu, "DELETE", api_path(f"zones/{ZONE}/instances/nobody"))
    assert (status, answer["error"]["errors"][0]["reason"]) == (400, "resourceNotReady")
    assert f"zones/{ZONE}/instances/nobody" in answer["error"]["message"]


def test_operation_errors_and_seeded_rates(emu, gce):
    emu.set_faults({"operation_errors": {"instances.stop": "RESOURCE_NOT_READY"}})
    wait_op(gce, insert(gce, "op-1"))
    done = wait_op(gce, gce.instances().stop(project=PROJECT, zone=ZONE, instance="op-1").execute())
    assert done["error"]["errors"][0]["code"] == "RESOURCE_NOT_READY" and get(gce, "op-1")["status"] == "RUNNING"

    def run():
        emu.set_faults({"error503_rate": 0.5, "seed": 7})
        return [raw(emu, "GET", api_path("zones"))[0] for _ in range(12)]
    first = run()
    assert first == run() and set(first) == {200, 503}


def test_control_endpoints_and_firewall_checks(emu, gce):
    status, caller = raw(emu, "GET", "/_emulator/checkip", token=None)
    assert status == 200 and caller.strip() == "127.0.0.1"
    rule = {"name": "rc-ssh", "network": "global/networks/default", "direction": "INGRESS",
            "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}], "sourceRanges": [caller.strip() + "/32"]}
    op = gce.firewalls().insert(project=PROJECT, body=rule).execute()
    assert gce.globalOperations().wait(project=PROJECT, operation=op["name"]).execute()["status"] == "DONE"
    assert gce.firewalls().get(project=PROJECT, firewall="rc-ssh").execute()["sourceRanges"] == ["127.0.0.1/32"]
    emu.assert_firewalls_safe()
    open_rule = dict(rule, name="rc-dashboard", allowed=[{"IPProtocol": "tcp", "ports": ["8000-9000"]}],
                     sourceRanges=["0.0.0.0/0"])
    gce.firewalls().insert(project=PROJECT, body=open_rule).execute()
    problems = emu.firewall_problems()
    assert any("0.0.0.0/0" in p for p in problems) and any("8265" in p for p in problems)
    with pytest.raises(AssertionError):
        emu.assert_firewalls_safe()
    gce.firewalls().delete(project=PROJECT, firewall="rc-dashboard").execute()
    internal = dict(rule, name="rc-internal", allowed=[{"IPProtocol": "all"}], sourceTags=["rc-node"],
                    targetTags=["rc-node"])
    del internal["sourceRanges"]
    gce.firewalls().insert(project=PROJECT, body=internal).execute()
    emu.assert_firewalls_safe()  # all ports, 8265 too, but only between the cluster's instances
    wider = {"sourceRanges": ["127.0.0.1/32", "127.0.0.2/32"]}
    with pytest.raises(HttpError) as excinfo:  # the document marks name required for patch
        gce.firewalls().patch(project=PROJECT, firewall="rc-ssh", body=wider).execute()
    assert http_error(excinfo)[:2] == (400, "required") and "resource.name" in http_error(excinfo)[2]
    op = gce.firewalls().patch(project=PROJECT, firewall="rc-ssh", body=dict(wider, name="rc-ssh")).execute()
    assert gce.globalOperations().wait(project=PROJECT, operation=op["name"]).execute()["status"] == "DONE"
    patched = gce.firewalls().get(project=PROJECT, firewall="rc-ssh").execute()
    assert patched["sourceRanges"] == ["127.0.0.1/32", "127.0.0.2/32"] and patched["allowed"] == rule["allowed"]
    with pytest.raises(HttpError) as excinfo:
        gce.firewalls().patch(project=PROJECT, firewall="rc-ssh",
                              body={"name": "rc-ssh", "sourceRanges": ["everyone"]}).execute()
    assert http_error(excinfo)[:2] == (400, "invalid")
    gce.firewalls().delete(project=PROJECT, firewall="rc-internal").execute()
    assert [f["name"] for f in gce.firewalls().list(project=PROJECT).execute()["items"]] == ["rc-ssh"]
    status, state = raw(emu, "GET", "/_emulator/state", token=None)
    assert status == 200 and [f["name"] for f in state["firewalls"]] == ["rc-ssh"]
    assert raw(emu, "POST", "/_emulator/faults", {"bogus": 1}, token=None)[0] == 400
    assert raw(emu, "POST", "/_emulator/faults", {"stockout": {ZONE: "ZONE_RESOURCE_POOL_EXHAUSTED"}},
               token=None)[0] == 200
    assert emu.faults.stockout(ZONE) == "ZONE_RESOURCE_POOL_EXHAUSTED"
    status, calls = raw(emu, "GET", "/_emulator/calls", token=None)
    assert [c["method"] for c in calls][:6] == ["firewalls.insert", "globalOperations.wait", "firewalls.get",
                                                "firewalls.insert", "firewalls.delete", "firewalls.insert"]
    assert [c["status"] for c in calls if c["method"] == "firewalls.patch"] == [400, 200, 400]
    assert calls[-1]["method"] == "firewalls.list" and calls[-1]["status"] == 200


def test_catalog(gce):
    a2 = gce.machineTypes().get(project=PROJECT, zone=ZONE, machineType="a2-highgpu-1g").execute()
    assert (a2["guestCpus"], a2["accelerators"]) == (12, [{"guestAcceleratorType": "nvidia-tesla-a100",
                                                           "guestAcceleratorCount": 1}])
    listed = {m["name"]: m for m in gce.machineTypes().list(project=PROJECT, zone=ZONE).execute()["items"]}
    assert listed["n1-standard-8"]["memoryMb"] == 30720 and "e2-standard-4" in listed
    image = gce.images().getFromFamily(project="ubuntu-os-cloud", family="ubuntu-2204-lts").execute()
    assert image["family"] == "ubuntu-2204-lts" and "deprecated" not in image
    assert gce.networks().get(project=PROJECT, network="default").execute()["name"] == "default"
    sub = gce.subnetworks().get(project=PROJECT, region=REGION, subnetwork="default").execute()
    assert sub["ipCidrRange"] == "127.79.0.0/17"


def test_machine_types_get_answers_the_types_the_examples_use_and_404s_others(gce):
    # Published figures for the families the examples and tests use.
    expect = {"n1-standard-2": (2, 7680, None), "n2-standard-4": (4, 16384, None),
              "e2-medium": (2, 4096, None), "a2-highgpu-1g": (12, 87040, ("nvidia-tesla-a100", 1)),
              "g2-standard-4": (4, 16384, ("nvidia-l4", 1)), "g2-standard-24": (24, 98304, ("nvidia-l4", 2))}
    for zone in (ZONE, f"{REGION}-b"):
        for name, (cpus, memory, gpu) in expect.items():
            m = gce.machineTypes().get(project=PROJECT, zone=zone, machineType=name).execute()
            assert (m["name"], m["guestCpus"], m["memoryMb"]) == (name, cpus, memory)
            assert m["zone"] == zone and m["selfLink"].endswith(f"/zones/{zone}/machineTypes/{name}")
            got = [(a["guestAcceleratorType"], a["guestAcceleratorCount"]) for a in m.get("accelerators", [])]
            assert got == ([gpu] if gpu else [])
    # Every accelerator a machine type carries is one the zone lists.
    listed = {a["name"] for a in gce.acceleratorTypes().list(project=PROJECT, zone=ZONE).execute()["items"]}
    assert {"nvidia-l4", "nvidia-tesla-a100"} <= listed
    with pytest.raises(HttpError) as missing:
        gce.machineTypes().get(project=PROJECT, zone=ZONE, machineType="n9-huge").execute()
    assert missing.value.resp.status == 404
    error = json.loads(missing.value.content)["error"]
    assert error["code"] == 404 and error["errors"][0]["reason"] == "notFound"
    assert f"projects/{PROJECT}/zones/{ZONE}/machineTypes/n9-huge" in error["message"]


# -- the command line ------------------------------------------------------------------------

def test_command_line_server(tmp_path):
    public, credentials = service_account_key()
    (tmp_path / "sa.pem").write_text(public)
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "gcp" / "server.py"), "--port-file", str(port_file),
                             "--project", PROJECT, "--access-token", "cli-token", "--metadata",
                             "--service-account-public-key", f"{SERVICE_ACCOUNT}={tmp_path / 'sa.pem'}"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("listening on http://127.0.0.1:")
        port = int(port_file.read_text())
        emu = type("Endpoint", (), {"port": port, "url": f"http://127.0.0.1:{port}",
                                    "api_endpoint": f"http://127.0.0.1:{port}/compute/v1/"})
        assert len(raw(emu, "GET", api_path("zones"), token="cli-token")[1]["items"]) == 3
        assert raw(emu, "GET", api_path("zones"), token="other")[0] == 401
        zones = make_client(emu, credentials(emu.url + "/token")).zones().list(project=PROJECT).execute()
        assert len(zones["items"]) == 3
        status, answer = raw(emu, "GET", "/computeMetadata/v1/instance/service-accounts/default/token",
                             token=None, headers={"Metadata-Flavor": "Google"})
        assert status == 200 and raw(emu, "GET", api_path("zones"), token=answer["access_token"])[0] == 200
        status, state = raw(emu, "GET", "/_emulator/state", token=None)
        assert state["project"] == PROJECT and state["instances"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


# -- sshd-backed instances ------------------------------------------------------------------

def _ssh(key, port, address):
    return subprocess.run(
        ["ssh", "-i", key, "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes",
         "-o", "LogLevel=ERROR", f"{getpass.getuser()}@{address}", "true"],
        capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(not os.path.exists(sshd_support.SSHD), reason="needs OpenSSH's sshd")
def test_instances_backed_by_sshd_take_their_metadata_keys(tmp_path):
    configured_key, configured_public = sshd_support.make_user_key(str(tmp_path / "configured"))
    own_key, own_public = sshd_support.make_user_key(str(tmp_path / "own"))
    later_key, later_public = sshd_support.make_user_key(str(tmp_path / "later"))
    port = sshd_support.free_port("127.79.0.1")
    ssh = {"authorized_keys": configured_public, "port": port, "workdir": str(tmp_path / "hosts")}
    with GceEmulator(PROJECT, REGION, tokens=TokenService(), access_tokens=[TOKEN], ssh=ssh, **TIMINGS) as emu:
        gce = make_client(emu)
        user = getpass.getuser()
        keys = f"{user}:{own_public.strip()}\nsomeone-else:{later_public.strip()}"
        wait_op(gce, insert(gce, "ssh-1", metadata={"ssh-keys": keys}))
        inst = get(gce, "ssh-1")
        assert inst["status"] == "RUNNING"
        nat, internal = inst["networkInterfaces"][0]["accessConfigs"][0]["natIP"], \
            inst["networkInterfaces"][0]["networkIP"]
        assert _ssh(own_key, port, nat).returncode == 0
        assert _ssh(own_key, port, internal).returncode == 0
        assert _ssh(configured_key, port, nat).returncode == 0
        assert _ssh(later_key, port, nat).returncode != 0  # its line names another user
        assert emu.instances()[0]["ssh_key_users"] == sorted([user, "someone-else"])
        body = {"fingerprint": inst["metadata"]["fingerprint"],
                "items": [{"key": "ssh-keys", "value": f"{user}:{later_public.strip()}"}]}
        wait_op(gce, gce.instances().setMetadata(project=PROJECT, zone=ZONE, instance="ssh-1", body=body).execute())
        assert _ssh(later_key, port, nat).returncode == 0
        assert _ssh(own_key, port, nat).returncode != 0
        wait_op(gce, gce.instances().stop(project=PROJECT, zone=ZONE, instance="ssh-1").execute())
        wait_for(lambda: _ssh(configured_key, port, nat).returncode != 0, timeout=10)
        assert emu.host_errors == [] and emu.project_ssh_keys_ever_set is False
