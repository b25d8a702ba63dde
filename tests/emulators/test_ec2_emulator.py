"""The EC2 emulator, checked with a real botocore client.

botocore parses every answer here: a test that reads a field through the
client is also a test that the XML is what botocore's EC2 parser expects.
Requests botocore would refuse to build (unknown parameters, bad signatures
on purpose) are signed with botocore's AWSRequest/SigV4Auth and sent raw.
"""
import base64
import getpass
import http.client
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "support"))
from ec2 import Ec2Emulator  # noqa: E402
import sshd as sshd_support  # noqa: E402

REGION = "us-east-1"
KEY, SECRET = "AKIDEMULATOR", "emulator-secret"
NOBLE = "ami-0a1b2c3d4e5f60001"
NOBLE_ARM = "ami-0a1b2c3d4e5f60003"


# -- helpers -------------------------------------------------------------------

_SESSION = botocore.session.get_session()  # one session: it loads the EC2 model once


def make_client(url, *, secret=SECRET, key=KEY, token=None, region=REGION):
    return _SESSION.create_client(
        "ec2", endpoint_url=url, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20))


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def raw_call(emu, params, *, method="POST", secret=SECRET, token=None, tamper_body=None):
    """Signs ``params`` with botocore's SigV4 and sends them as they are.

    Returns (status, error code or None, body text)."""
    query = urlencode(params, quote_via=quote)
    url = emu.url + "/"
    headers = {}
    body = b""
    if method == "GET":
        url += "?" + query
    else:
        body = query.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(KEY, secret, token), "ec2", REGION).add_auth(request)
    prepared = request.prepare()
    sent = prepared.body or b""
    if tamper_body:
        sent = tamper_body(sent)
    path = url[len(emu.url):]
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        hdrs = dict(prepared.headers.items())
        if sent:
            hdrs["Content-Length"] = str(len(sent))
        connection.request(method, path, body=sent, headers=hdrs)
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    code = None
    if response.status >= 400:
        code = next(e.text for e in ET.fromstring(text).iter() if e.tag.rsplit("}", 1)[-1] == "Code")
    return response.status, code, text


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def states(client, ids):
    found = client.describe_instances(InstanceIds=ids)
    return {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}


def launch(client, count=1, **extra):
    args = {"ImageId": NOBLE, "InstanceType": "m5.large", "MinCount": count, "MaxCount": count}
    args.update(extra)
    return client.run_instances(**args)


@pytest.fixture
def emu():
    with Ec2Emulator(region=REGION, boot_seconds=0.3, terminate_seconds=0.2,
                     terminated_visible_seconds=1.0) as emulator:
        yield emulator


@pytest.fixture
def ec2(emu):
    return make_client(emu.url)


def subnet_in(client, zone):
    subnets = client.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [zone]}])["Subnets"]
    return subnets[0]["SubnetId"]


# -- signatures ----------------------------------------------------------------

def test_wrong_secret_is_signature_mismatch(emu):
    with pytest.raises(ClientError) as excinfo:
        make_client(emu.url, secret="not-the-secret").describe_instances()
    assert error_code(excinfo) == "SignatureDoesNotMatch"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert emu.calls()[-1]["status"] == 403


def test_unknown_access_key_and_wrong_region_are_rejected(emu):
    with pytest.raises(ClientError) as excinfo:
        make_client(emu.url, key="AKIDSOMEONEELSE").describe_instances()
    assert error_code(excinfo) == "AuthFailure"
    with pytest.raises(ClientError) as excinfo:
        make_client(emu.url, region="eu-west-1").describe_instances()
    assert error_code(excinfo) == "SignatureDoesNotMatch"


def test_tampered_body_and_missing_signature_are_rejected(emu):
    params = {"Action": "DescribeInstances", "Version": "2016-11-15"}
    assert raw_call(emu, params)[0] == 200
    status, code, _ = raw_call(emu, params, tamper_body=lambda b: b + b"&DryRun=false")
    assert (status, code) == (403, "SignatureDoesNotMatch")
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    connection.request("POST", "/", body=urlencode(params),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    assert response.status == 401 and b"MissingAuthenticationToken" in response.read()
    connection.close()


def test_signed_get_with_query_string_is_accepted(emu):
    status, _, text = raw_call(emu, {"Action": "DescribeVpcs", "Version": "2016-11-15"}, method="GET")
    assert status == 200 and "172.31.0.0/16" in text and "<requestId>" in text


def test_session_token_must_match_when_configured():
    with Ec2Emulator(region=REGION, session_token="the-token") as emu:
        assert make_client(emu.url, token="the-token").describe_vpcs()["Vpcs"]
        for token in ("another-token", None):
            with pytest.raises(ClientError) as excinfo:
                make_client(emu.url, token=token).describe_vpcs()
            assert error_code(excinfo) == "AuthFailure"


# -- the model -----------------------------------------------------------------

@pytest.mark.parametrize("params, code", [
    ({"Action": "DescribeInstances", "Bogus": "1"}, "UnknownParameter"),
    ({"Action": "DescribeInstances", "Filter.1.Nme": "x"}, "UnknownParameter"),
    ({"Action": "DescribeInstances", "InstanceIds.1": "i-12345678"}, "UnknownParameter"),
    ({"Action": "DescribeInstances", "MaxResults": "many"}, "InvalidParameterValue"),
    ({"Action": "DescribeInstances", "DryRun": "yes"}, "InvalidParameterValue"),
    ({"Action": "RunInstances", "ImageId": NOBLE, "MinCount": "1"}, "MissingParameter"),
    ({"Action": "RunInstances", "ImageId": NOBLE, "MinCount": "1", "MaxCount": "1",
      "InstanceType": "m5.enormous"}, "InvalidParameterValue"),
    ({"Action": "LaunchRocket"}, "InvalidAction"),
])
def test_parameters_outside_the_model_are_rejected(emu, params, code):
    status, got, text = raw_call(emu, {**params, "Version": "2016-11-15"})
    assert (status, got) == (400, code), text
    assert "<RequestID>" in text


def test_version_is_required(emu):
    assert raw_call(emu, {"Action": "DescribeVpcs"})[1] == "MissingParameter"
    assert raw_call(emu, {"Action": "DescribeVpcs", "Version": "2014-10-01"})[1] == "NoSuchVersion"


# -- RunInstances --------------------------------------------------------------

def test_client_token_makes_run_instances_idempotent(emu, ec2):
    first = launch(ec2, 2, ClientToken="token-1")
    again = launch(ec2, 2, ClientToken="token-1")
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    assert len(emu.instances()) == 2
    assert all(i["client_token"] == "token-1" for i in emu.instances())
    with pytest.raises(ClientError) as excinfo:
        launch(ec2, 3, ClientToken="token-1")
    assert error_code(excinfo) == "IdempotentParameterMismatch"
    assert len(emu.instances()) == 2


def test_min_and_max_count_follow_capacity(emu, ec2):
    assert len(launch(ec2, MinCount=1, MaxCount=4)["Instances"]) == 4
    emu.set_faults({"zone_capacity": {"us-east-1a": 6}})
    subnet = subnet_in(ec2, "us-east-1a")
    got = ec2.run_instances(ImageId=NOBLE, InstanceType="m5.large", MinCount=1, MaxCount=5, SubnetId=subnet)
    assert len(got["Instances"]) == 2  # four live already, room for six
    with pytest.raises(ClientError) as excinfo:
        ec2.run_instances(ImageId=NOBLE, InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=subnet)
    assert error_code(excinfo) == "InsufficientInstanceCapacity"
    with pytest.raises(ClientError) as excinfo:
        launch(ec2, MinCount=3, MaxCount=2)
    assert error_code(excinfo) == "InvalidParameterValue"
    assert len(emu.instances()) == 6


def test_describe_instances_pages_with_max_results(emu, ec2):
    launch(ec2, 23)
    seen, token, pages = [], None, []
    while True:
        kwargs = {"MaxResults": 5}
        if token:
            kwargs["NextToken"] = token
        page = ec2.describe_instances(**kwargs)
        ids = [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
        pages.append(len(ids))
        seen += ids
        token = page.get("NextToken")
        if not token:
            break
    assert pages == [5, 5, 5, 5, 3]
    assert len(set(seen)) == 23
    paginated = ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 7})
    assert sum(len(r["Instances"]) for page in paginated for r in page["Reservations"]) == 23
    for bad in (4, 1001):
        with pytest.raises(ClientError) as excinfo:
            ec2.describe_instances(MaxResults=bad)
        assert error_code(excinfo) == "InvalidParameterValue"
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_instances(MaxResults=5, InstanceIds=[seen[0]])
    assert error_code(excinfo) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_instances(MaxResults=5, NextToken="not-a-token")
    assert error_code(excinfo) == "InvalidParameterValue"


def test_instances_boot_then_terminate_and_disappear(emu, ec2):
    instance = launch(ec2)["Instances"][0]
    iid = instance["InstanceId"]
    assert instance["State"] == {"Code": 0, "Name": "pending"}
    assert instance["PublicIpAddress"].startswith("127.77.")
    assert instance["PrivateIpAddress"].startswith("172.31.")
    wait_for(lambda: states(ec2, [iid])[iid] == "running")
    change = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert change["PreviousState"]["Name"] == "running"
    assert change["CurrentState"]["Name"] == "shutting-down"
    wait_for(lambda: states(ec2, [iid])[iid] == "terminated")
    listed = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}])
    assert [i["InstanceId"] for r in listed["Reservations"] for i in r["Instances"]] == [iid]

    def gone():
        try:
            ec2.describe_instances(InstanceIds=[iid])
        except ClientError as error:
            return error.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
        return False
    wait_for(gone, timeout=5)
    assert ec2.describe_instances()["Reservations"] == []


def test_terminate_with_an_unknown_id_fails_as_a_whole(emu, ec2):
    iid = launch(ec2)["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as excinfo:
        ec2.terminate_instances(InstanceIds=[iid, "i-0123456789abcdef0"])
    assert error_code(excinfo) == "InvalidInstanceID.NotFound"
    assert "i-0123456789abcdef0" in excinfo.value.response["Error"]["Message"]
    assert emu.instances()[0]["state"] in ("pending", "running")
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_instances(InstanceIds=["instance-1"])
    assert error_code(excinfo) == "InvalidInstanceID.Malformed"


def test_stop_and_start(emu, ec2):
    iid = launch(ec2)["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as excinfo:
        ec2.stop_instances(InstanceIds=[iid])
    assert error_code(excinfo) == "IncorrectInstanceState"  # still pending
    wait_for(lambda: states(ec2, [iid])[iid] == "running")
    first_ip = emu.instances()[0]["public_ip"]
    assert ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]["CurrentState"]["Name"] == "stopping"
    wait_for(lambda: states(ec2, [iid])[iid] == "stopped")
    assert emu.instances()[0]["public_ip"] is None
    assert ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]["CurrentState"]["Name"] == "pending"
    wait_for(lambda: states(ec2, [iid])[iid] == "running")
    assert emu.instances()[0]["public_ip"] not in (None, first_ip)
    spot = launch(ec2, InstanceMarketOptions={"MarketType": "spot"})["Instances"][0]["InstanceId"]
    wait_for(lambda: states(ec2, [spot])[spot] == "running")
    with pytest.raises(ClientError) as excinfo:
        ec2.stop_instances(InstanceIds=[spot])
    assert error_code(excinfo) == "UnsupportedOperation"


def test_filters_with_wildcards(emu, ec2):
    def tagged(name):
        return [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name},
                                                      {"Key": "ray-cluster-name", "Value": "c1"}]}]
    a = launch(ec2, TagSpecifications=tagged("ray-c1-head"))["Instances"][0]["InstanceId"]
    b = launch(ec2, TagSpecifications=tagged("ray-c1-worker"))["Instances"][0]["InstanceId"]
    c = launch(ec2)["Instances"][0]["InstanceId"]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]

    def ids(*filters):
        found = ec2.describe_instances(Filters=list(filters))
        return sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])
    assert ids({"Name": "tag:Name", "Values": ["ray-c1-*"]}) == sorted([a, b])
    assert ids({"Name": "tag:Name", "Values": ["ray-c1-h??d"]}) == [a]
    assert ids({"Name": "tag-key", "Values": ["ray-cluster-name"]}) == sorted([a, b])
    assert ids({"Name": "instance-id", "Values": [c]}) == [c]
    assert ids({"Name": "vpc-id", "Values": [vpc]},
               {"Name": "instance-state-name", "Values": ["pending", "running"]}) == sorted([a, b, c])
    assert ids({"Name": "tag:Name", "Values": ["ray-c1-*"]},
               {"Name": "instance-state-name", "Values": ["stopped"]}) == []
    with pytest.raises(ClientError) as excinfo:
        ids({"Name": "no-such-filter", "Values": ["x"]})
    assert error_code(excinfo) == "InvalidParameterValue"
    many = [f"i-{n:017x}" for n in range(200)]
    assert ids({"Name": "instance-id", "Values": many}) == []
    with pytest.raises(ClientError) as excinfo:
        ids({"Name": "instance-id", "Values": many}, {"Name": "instance-state-name", "Values": ["running"]})
    assert error_code(excinfo) == "FilterLimitExceeded"


def test_run_instances_reflects_node_config(emu, ec2):
    key = ec2.create_key_pair(KeyName="k1")["KeyName"]
    group = ec2.create_security_group(GroupName="ray-sg", Description="ray nodes")["GroupId"]
    subnet = subnet_in(ec2, "us-east-1b")
    profile = "arn:aws:iam::123456789012:instance-profile/ray-head"
    # As in EC2, the profile must exist in IAM (the emulator's, on the same endpoint).
    iam = _SESSION.create_client("iam", endpoint_url=emu.url, region_name=REGION, aws_access_key_id=KEY,
                                 aws_secret_access_key=SECRET)
    iam.create_instance_profile(InstanceProfileName="ray-head")
    instance = ec2.run_instances(
        ImageId=NOBLE, InstanceType="p3.2xlarge", MinCount=1, MaxCount=1, KeyName=key, UserData="#!/bin/sh\ntrue\n",
        IamInstanceProfile={"Arn": profile},
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 120, "VolumeType": "gp3"}}],
        InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"MaxPrice": "1.5"}},
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group],
                            "AssociatePublicIpAddress": True}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "ray-node-type", "Value": "head"}]},
                           {"ResourceType": "volume", "Tags": [{"Key": "ray-cluster-name", "Value": "c"}]}],
    )["Instances"][0]
    assert instance["InstanceLifecycle"] == "spot"
    assert instance["IamInstanceProfile"]["Arn"] == profile
    assert instance["KeyName"] == "k1" and instance["SubnetId"] == subnet
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]
    assert instance["BlockDeviceMappings"][0]["DeviceName"] == "/dev/sda1"
    assert instance["NetworkInterfaces"][0]["Association"]["PublicIp"] == instance["PublicIpAddress"]
    summary = emu.instances()[0]
    assert summary["spot"] and summary["volumes"][0]["size_gib"] == 120
    assert summary["volumes"][0]["tags"] == {"ray-cluster-name": "c"}
    assert base64.b64decode(summary["user_data"]) == b"#!/bin/sh\ntrue\n"
    for bad, code in [
        ({"SubnetId": subnet, "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet}]},
         "InvalidParameterCombination"),
        ({"ImageId": NOBLE_ARM}, "InvalidParameterValue"),  # arm64 image on an x86_64 type
        ({"ImageId": "ami-0fffffffffffffff0"}, "InvalidAMIID.NotFound"),
        ({"ImageId": "ubuntu"}, "InvalidAMIID.Malformed"),
        ({"KeyName": "nope"}, "InvalidKeyPair.NotFound"),
        ({"SubnetId": "subnet-0fffffffffffffff0"}, "InvalidSubnetID.NotFound"),
        ({"SecurityGroupIds": ["sg-0fffffffffffffff0"]}, "InvalidGroup.NotFound"),
        ({"BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 4}}]},
         "InvalidBlockDeviceMapping"),
        ({"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"InstanceInterruptionBehavior": "stop"}}},
         "InvalidParameterCombination"),
        ({"TagSpecifications": [{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}]},
         "InvalidParameterValue"),
    ]:
        with pytest.raises(ClientError) as excinfo:
            launch(ec2, **bad)
        assert error_code(excinfo) == code, bad
    assert len(emu.instances()) == 1


# -- faults ----------------------------------------------------------------------

@pytest.mark.parametrize("key, code, status", [
    ("throttle_rate", "RequestLimitExceeded", 503),
    ("error500_rate", "InternalError", 500),
    ("error503_rate", "Unavailable", 503),
])
@pytest.mark.parametrize("shape", ["Response", "ErrorResponse"])
def test_injected_errors_happen_before_the_action(emu, ec2, key, code, status, shape):
    emu.set_faults({key: 1.0, "error_shape": shape, "actions": ["RunInstances"]})
    with pytest.raises(ClientError) as excinfo:
        launch(ec2)
    assert error_code(excinfo) == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert excinfo.value.response["ResponseMetadata"]["RequestId"]
    assert emu.instances() == []
    assert ec2.describe_instances()["Reservations"] == []  # not in `actions`
    assert [c["fault"] for c in emu.calls()] == [key.replace("_rate", ""), None]


def test_error_shape_applies_to_real_errors_too(emu, ec2):
    emu.set_faults({"error_shape": "ErrorResponse"})
    status, code, text = raw_call(emu, {"Action": "DescribeInstances", "Version": "2016-11-15", "Bogus": "1"})
    assert (status, code) == (400, "UnknownParameter")
    assert text.count("<ErrorResponse") == 1 and "<Type>Sender</Type>" in text and "<RequestId>" in text
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert error_code(excinfo) == "InvalidInstanceID.NotFound"


def test_dropped_connection_launches_nothing(emu, ec2):
    emu.set_faults({"drop_rate": 1.0})
    with pytest.raises(ConnectionClosedError):
        launch(ec2)
    emu.set_faults({})
    assert emu.instances() == []
    assert emu.calls()[0]["fault"] == "drop" and emu.calls()[0]["status"] is None


def test_drop_after_effect_then_retry_with_the_same_token(emu, ec2):
    emu.set_faults({"drop_after_effect_rate": 1.0, "actions": ["RunInstances"]})
    with pytest.raises(ConnectionClosedError):
        launch(ec2, ClientToken="retry-me")
    assert len(emu.instances()) == 1
    emu.set_faults({})
    again = launch(ec2, ClientToken="retry-me")
    assert again["Instances"][0]["InstanceId"] == emu.instances()[0]["id"]
    assert len(emu.instances()) == 1


def test_latency_is_added(emu, ec2):
    emu.set_faults({"latency_ms": 250})
    started = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - started >= 0.25


def test_seeded_rates_repeat(emu, ec2):
    def outcomes():
        emu.set_faults({"throttle_rate": 0.5, "seed": 42})
        result = []
        for _ in range(16):
            try:
                ec2.describe_vpcs()
                result.append("ok")
            except ClientError as error:
                result.append(error.response["Error"]["Code"])
        return result
    first = outcomes()
    assert "ok" in first and "RequestLimitExceeded" in first
    assert outcomes() == first


def test_capacity_errors_per_zone(emu, ec2):
    emu.set_faults({"capacity_errors": {"us-east-1a": "InsufficientInstanceCapacity",
                                        "us-east-1b": "Unsupported"}})
    for zone, code, status in [("us-east-1a", "InsufficientInstanceCapacity", 500),
                               ("us-east-1b", "Unsupported", 400)]:
        with pytest.raises(ClientError) as excinfo:
            launch(ec2, SubnetId=subnet_in(ec2, zone))
        assert error_code(excinfo) == code
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert zone in excinfo.value.response["Error"]["Message"]
    assert launch(ec2, SubnetId=subnet_in(ec2, "us-east-1c"))["Instances"][0]["Placement"]["AvailabilityZone"] \
        == "us-east-1c"
    assert [c["fault"] for c in emu.calls() if c["action"] == "RunInstances"] == ["capacity", "capacity", None]


# -- key pairs, groups, images, tags ---------------------------------------------

def test_key_pairs(emu, ec2):
    created = ec2.create_key_pair(KeyName="ray-autoscaler_us-east-1")
    private = serialization.load_pem_private_key(created["KeyMaterial"].encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert created["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert len(created["KeyFingerprint"].split(":")) == 20
    with pytest.raises(ClientError) as excinfo:
        ec2.create_key_pair(KeyName="ray-autoscaler_us-east-1")
    assert error_code(excinfo) == "InvalidKeyPair.Duplicate"
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    imported = ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=public)
    assert imported["KeyPairId"].startswith("key-")
    with pytest.raises(ClientError) as excinfo:
        ec2.import_key_pair(KeyName="junk", PublicKeyMaterial=b"ssh-rsa not-a-key")
    assert error_code(excinfo) == "InvalidKey.Format"
    listed = ec2.describe_key_pairs(KeyNames=["mine"], IncludePublicKey=True)["KeyPairs"][0]
    assert listed["KeyType"] == "ed25519" and listed["PublicKey"].split()[1] == public.decode().split()[1]
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == {"mine", "ray-autoscaler_us-east-1"}
    ec2.delete_key_pair(KeyName="mine")
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_key_pairs(KeyNames=["mine"])
    assert error_code(excinfo) == "InvalidKeyPair.NotFound"
    assert [k["name"] for k in emu.key_pairs()] == ["ray-autoscaler_us-east-1"]


def test_security_groups(emu, ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    default = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])
    assert default["SecurityGroups"][0]["VpcId"] == vpc
    gid = ec2.create_security_group(GroupName="ray-autoscaler-c1", Description="c1", VpcId=vpc)["GroupId"]
    with pytest.raises(ClientError) as excinfo:
        ec2.create_security_group(GroupName="ray-autoscaler-c1", Description="again", VpcId=vpc)
    assert error_code(excinfo) == "InvalidGroup.Duplicate"
    rules = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "127.0.0.1/32"}]},
             {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": gid}]}]
    added = ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=rules)
    assert added["Return"] is True and len(added["SecurityGroupRules"]) == 2
    with pytest.raises(ClientError) as excinfo:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=rules[:1])
    assert error_code(excinfo) == "InvalidPermission.Duplicate"
    with pytest.raises(ClientError) as excinfo:
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{"IpProtocol": "tcp",
                                                                          "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert error_code(excinfo) == "InvalidParameterValue"
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "group-name", "Values": ["ray-autoscaler-*"]}])
    group = found["SecurityGroups"][0]
    assert group["GroupId"] == gid
    by_protocol = {p["IpProtocol"]: p for p in group["IpPermissions"]}
    assert by_protocol["tcp"]["FromPort"] == 22 and by_protocol["tcp"]["IpRanges"] == [{"CidrIp": "127.0.0.1/32"}]
    assert by_protocol["-1"]["UserIdGroupPairs"][0]["GroupId"] == gid
    assert ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["GroupName"] == "ray-autoscaler-c1"
    iid = launch(ec2, SecurityGroupIds=[gid])["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as excinfo:
        ec2.delete_security_group(GroupId=gid)
    assert error_code(excinfo) == "DependencyViolation"
    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(lambda: states(ec2, [iid])[iid] == "terminated")
    ec2.delete_security_group(GroupId=gid)
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_security_groups(GroupIds=[gid])
    assert error_code(excinfo) == "InvalidGroup.NotFound"
    assert [g["name"] for g in emu.security_groups()] == ["default"]


def test_images_zones_and_instance_types(ec2):
    images = ec2.describe_images(Owners=["099720109477"], Filters=[
        {"Name": "name", "Values": ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"]},
        {"Name": "state", "Values": ["available"]}])["Images"]
    newest = max(images, key=lambda i: i["CreationDate"])
    assert newest["Name"].endswith("-20250101") and newest["Architecture"] == "x86_64"
    assert len(images) >= 2 and all(i["OwnerId"] == "099720109477" for i in images)
    assert ec2.describe_images(Owners=["amazon"])["Images"][0]["Name"].startswith("al2023")
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_images(ImageIds=["ami-0fffffffffffffff0"])
    assert error_code(excinfo) == "InvalidAMIID.NotFound"
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert all(s["MapPublicIpOnLaunch"] and s["CidrBlock"].startswith("172.31.") for s in subnets)
    gpu = ec2.describe_instance_types(InstanceTypes=["p3.2xlarge"])["InstanceTypes"][0]
    assert gpu["VCpuInfo"]["DefaultVCpus"] == 8 and gpu["GpuInfo"]["Gpus"][0]["Name"] == "V100"


def test_create_and_delete_tags(emu, ec2):
    iid = launch(ec2)["Instances"][0]["InstanceId"]
    ec2.create_tags(Resources=[iid], Tags=[{"Key": "ray-node-status", "Value": "up-to-date"},
                                           {"Key": "x", "Value": "1"}])
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": "x"}])
    assert emu.instances()[0]["tags"] == {"ray-node-status": "up-to-date"}
    with pytest.raises(ClientError) as excinfo:
        ec2.create_tags(Resources=[iid, "i-0123456789abcdef0"], Tags=[{"Key": "y", "Value": "2"}])
    assert error_code(excinfo) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as excinfo:
        ec2.create_tags(Resources=[iid], Tags=[{"Key": "aws:reserved", "Value": "2"}])
    assert error_code(excinfo) == "InvalidParameterValue"
    assert emu.instances()[0]["tags"] == {"ray-node-status": "up-to-date"}


# -- inspection, control endpoints, the command line -----------------------------

def test_calls_are_recorded(emu, ec2):
    ec2.describe_instances(Filters=[{"Name": "tag:ray-cluster-name", "Values": ["c1"]}])
    call = emu.calls()[-1]
    assert call["action"] == "DescribeInstances" and call["status"] == 200 and call["fault"] is None
    assert call["params"]["Filter.1.Name"] == "tag:ray-cluster-name"
    assert call["params"]["Filter.1.Value.1"] == "c1"


def _http(emu, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    connection.request(method, path, body=body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_control_endpoints(emu, ec2):
    launch(ec2)
    status, data = _http(emu, "GET", "/_emulator/state")
    state = json.loads(data)
    assert status == 200 and len(state["instances"]) == 1 and state["calls"][-1]["action"] == "RunInstances"
    assert {"key_pairs", "security_groups"} <= set(state)
    assert _http(emu, "POST", "/_emulator/faults", json.dumps({"throttle_rate": 1.0}))[0] == 200
    with pytest.raises(ClientError):
        ec2.describe_vpcs()
    assert _http(emu, "POST", "/_emulator/faults", json.dumps({"bogus_rate": 1}))[0] == 400
    assert _http(emu, "POST", "/_emulator/faults", "{}")[0] == 200
    assert _http(emu, "POST", "/_emulator/reset-calls")[0] == 200
    assert emu.calls() == []
    assert _http(emu, "GET", "/_emulator/checkip") == (200, b"127.0.0.1\n")


def test_command_line_server(tmp_path):
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "ec2" / "server.py"), "--port-file", str(port_file), "--boot-seconds", "0.1",
         "--faults", json.dumps({"seed": 1})],
        stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        port = int(port_file.read_text())
        assert line.strip() == f"listening on http://127.0.0.1:{port}"
        client = make_client(f"http://127.0.0.1:{port}")
        assert client.describe_vpcs()["Vpcs"][0]["IsDefault"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


# -- sshd-backed instances ---------------------------------------------------------

def _ssh(key, port, address):
    return subprocess.run(
        ["ssh", "-i", key, "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes",
         "-o", "LogLevel=ERROR", f"{getpass.getuser()}@{address}", "true"],
        capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(not os.path.exists(sshd_support.SSHD), reason="needs OpenSSH's sshd")
def test_instances_backed_by_sshd(tmp_path):
    configured_key, configured_public = sshd_support.make_user_key(str(tmp_path / "configured"))
    pair_key, pair_public = sshd_support.make_user_key(str(tmp_path / "pair"))
    port = sshd_support.free_port("127.77.0.1")
    ssh = {"authorized_keys": configured_public, "port": port, "internal_loopback": True,
           "workdir": str(tmp_path / "hosts")}
    with Ec2Emulator(region=REGION, boot_seconds=0.2, terminate_seconds=0.2, ssh=ssh) as emu:
        ec2 = make_client(emu.url)
        ec2.import_key_pair(KeyName="pair", PublicKeyMaterial=pair_public.encode())
        instance = launch(ec2, KeyName="pair")["Instances"][0]
        iid, public, private = instance["InstanceId"], instance["PublicIpAddress"], instance["PrivateIpAddress"]
        assert public.startswith("127.77.") and private.startswith("127.78.")
        wait_for(lambda: states(ec2, [iid])[iid] == "running")
        assert _ssh(configured_key, port, public).returncode == 0
        assert _ssh(configured_key, port, private).returncode == 0
        assert _ssh(pair_key, port, public).returncode == 0  # the key pair's key is authorized, as on EC2
        ec2.terminate_instances(InstanceIds=[iid])
        wait_for(lambda: _ssh(configured_key, port, public).returncode != 0, timeout=10)
        assert emu.host_errors == []


# -- moto as a second peer -----------------------------------------------------

def _shape(value):
    """The keys and types of a response, without its values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _paths(shape, prefix=""):
    if isinstance(shape, dict):
        for key, child in shape.items():
            yield f"{prefix}.{key}"
            yield from _paths(child, f"{prefix}.{key}")
    elif isinstance(shape, list) and shape:
        yield from _paths(shape[0], prefix + "[]")


def _scenario(client, image):
    out = {"vpcs": client.describe_vpcs(), "subnets": client.describe_subnets(),
           "groups": client.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])}
    run = client.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                               TagSpecifications=[{"ResourceType": "instance",
                                                   "Tags": [{"Key": "Name", "Value": "peer"}]}])
    iid = run["Instances"][0]["InstanceId"]
    out["run"] = run
    out["describe"] = client.describe_instances(InstanceIds=[iid])
    out["terminate"] = client.terminate_instances(InstanceIds=[iid])
    out["key"] = client.create_key_pair(KeyName="peer-key")
    return out


def test_shapes_match_moto(emu, ec2):
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        peer = make_client(f"http://{host}:{port}")
        peer_image = peer.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"][0]
        ours = _scenario(ec2, NOBLE)
        theirs = _scenario(peer, peer_image["ImageId"])
    finally:
        server.stop()
    important = {
        "vpcs": [".Vpcs[].VpcId", ".Vpcs[].CidrBlock", ".Vpcs[].IsDefault", ".Vpcs[].State"],
        "subnets": [".Subnets[].SubnetId", ".Subnets[].AvailabilityZone", ".Subnets[].DefaultForAz",
                    ".Subnets[].MapPublicIpOnLaunch", ".Subnets[].VpcId"],
        "groups": [".SecurityGroups[].GroupId", ".SecurityGroups[].IpPermissions",
                   ".SecurityGroups[].IpPermissionsEgress[].IpRanges[].CidrIp"],
        "run": [".ReservationId", ".Instances[].InstanceId", ".Instances[].State.Name",
                ".Instances[].PrivateIpAddress", ".Instances[].Tags[].Key", ".Instances[].Placement.AvailabilityZone"],
        "describe": [".Reservations[].Instances[].State.Code", ".Reservations[].Instances[].SubnetId",
                     ".Reservations[].Instances[].VpcId", ".Reservations[].Instances[].LaunchTime"],
        "terminate": [".TerminatingInstances[].CurrentState.Name", ".TerminatingInstances[].PreviousState.Code"],
        "key": [".KeyMaterial", ".KeyFingerprint", ".KeyName"],
    }
    for step, paths in important.items():
        ours_paths, theirs_paths = set(_paths(_shape(ours[step]))), set(_paths(_shape(theirs[step])))
        for path in paths:
            assert path in theirs_paths, (step, path, "moto")
            assert path in ours_paths, (step, path, "emulator")
        # Where both answer a field, its type agrees.
        for path, kind in _types(_shape(theirs[step])).items():
            mine = _types(_shape(ours[step])).get(path)
            assert mine in (None, kind), (step, path, mine, kind)


def _types(shape, prefix=""):
    out = {}
    if isinstance(shape, dict):
        for key, child in shape.items():
            out.update(_types(child, f"{prefix}.{key}"))
    elif isinstance(shape, list):
        if shape:
            out.update(_types(shape[0], prefix + "[]"))
    else:
        out[prefix] = shape
    return out
