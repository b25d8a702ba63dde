"""The EC2 emulator's IAM, instance metadata and policy enforcement.

IAM answers are read back by botocore's IAM client (so they are what its
query parser expects); an instance's IMDSv2 is read by botocore's own
``InstanceMetadataFetcher`` and by our credential chain (``creds_tool``,
when RAYCLUSTER_CREDS_TOOL names it), which must find the same
credentials; those credentials are then checked on every EC2 call against
the role's policy, by policy.py, whose verdicts are compared statement by
statement with moto's IAM policy evaluator (a second, independent one).
"""
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.error
import urllib.request

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.utils import InstanceMetadataFetcher

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ec2 import Ec2Emulator  # noqa: E402
from ec2 import policy  # noqa: E402

REGION = "us-east-1"
IMAGE = "ami-0a1b2c3d4e5f60001"
ID_TAG = "raycluster-id"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
_SESSION = botocore.session.get_session()


def client(service, url, key="AKIDEMULATOR", secret="emulator-secret", token=None):
    return _SESSION.create_client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=key,
                                  aws_secret_access_key=secret, aws_session_token=token,
                                  config=Config(retries={"total_max_attempts": 1}))


def cluster_policy(cluster_id):
    """The shape of the policy `up` gives the head (see lib/providers/aws/iam.cpp)."""
    arn = f"arn:aws:ec2:{REGION}"
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": f"{arn}:*:instance/*",
         "Condition": {"StringEquals": {f"aws:RequestTag/{ID_TAG}": cluster_id}}},
        {"Effect": "Allow", "Action": "ec2:RunInstances",
         "Resource": [f"{arn}::image/*", f"{arn}:*:subnet/*", f"{arn}:*:security-group/*", f"{arn}:*:key-pair/*",
                      f"{arn}:*:network-interface/*", f"{arn}:*:volume/*"]},
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": f"{arn}:*:instance/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances",
                                        f"aws:RequestTag/{ID_TAG}": cluster_id}}},
        {"Effect": "Allow", "Action": ["ec2:TerminateInstances", "ec2:CreateTags"], "Resource": f"{arn}:*:instance/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{ID_TAG}": cluster_id}}},
        {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}


@pytest.fixture
def emu(tmp_path):
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with Ec2Emulator(region=REGION, boot_seconds=0.2, terminate_seconds=0.2,
                     ssh={"authorized_keys": (tmp_path / "k.pub").read_text(),
                          "workdir": str(tmp_path / "hosts")}) as e:
        yield e


def make_role(iam, name, cluster_id, document):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": ID_TAG, "Value": cluster_id}])
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    iam.create_instance_profile(InstanceProfileName=name, Tags=[{"Key": ID_TAG, "Value": cluster_id}])
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def launch(ec2, tags=None, profile=None):
    kwargs = {"ImageId": IMAGE, "MinCount": 1, "MaxCount": 1, "InstanceType": "m5.large"}
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "instance",
                                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    if profile:
        kwargs["IamInstanceProfile"] = {"Name": profile}
    return ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]


def wait_running(ec2, instance_id):
    for _ in range(200):
        inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if inst["State"]["Name"] == "running":
            return inst
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} never ran")


def imds_url(emu, inst):
    return f"http://{inst['PublicIpAddress']}:{emu.imds_port}/"


def test_iam_roles_policies_and_profiles_as_botocore_reads_them(emu):
    iam = client("iam", emu.url)
    make_role(iam, "r1", "c1", cluster_policy("c1"))
    role = iam.get_role(RoleName="r1")["Role"]
    assert role["Tags"] == [{"Key": ID_TAG, "Value": "c1"}]
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)  # botocore decodes it
    assert iam.get_role_policy(RoleName="r1", PolicyName="p")["PolicyDocument"] == cluster_policy("c1")
    profile = iam.get_instance_profile(InstanceProfileName="r1")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["r1"]
    assert profile["Tags"] == [{"Key": ID_TAG, "Value": "c1"}]
    # IAM's rules: no second role, no deleting what is still in use, no duplicates.
    for call, kwargs, code in [
            (iam.add_role_to_instance_profile, {"InstanceProfileName": "r1", "RoleName": "r1"}, "LimitExceeded"),
            (iam.delete_role, {"RoleName": "r1"}, "DeleteConflict"),
            (iam.delete_instance_profile, {"InstanceProfileName": "r1"}, "DeleteConflict"),
            (iam.create_role, {"RoleName": "r1", "AssumeRolePolicyDocument": TRUST}, "EntityAlreadyExists"),
            (iam.get_role, {"RoleName": "nope"}, "NoSuchEntity")]:
        with pytest.raises(ClientError) as info:
            call(**kwargs)
        assert info.value.response["Error"]["Code"] == code
    emu.iam.denied.add("CreateRole")
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName="r2", AssumeRolePolicyDocument=TRUST)
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    iam.remove_role_from_instance_profile(InstanceProfileName="r1", RoleName="r1")
    iam.delete_instance_profile(InstanceProfileName="r1")
    iam.delete_role_policy(RoleName="r1", PolicyName="p")
    iam.delete_role(RoleName="r1")
    assert emu.iam_state() == {"roles": [], "instance_profiles": []}


def test_a_new_profile_is_refused_by_run_instances_until_iam_is_consistent(emu):
    emu.iam.profile_visible_after = 60.0
    make_role(client("iam", emu.url), "r1", "c1", cluster_policy("c1"))
    ec2 = client("ec2", emu.url)
    with pytest.raises(ClientError) as info:
        launch(ec2, profile="r1")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Invalid IAM Instance Profile" in info.value.response["Error"]["Message"]
    emu.iam.profiles["r1"].visible_at = time.time()  # IAM caught up
    assert launch(ec2, profile="r1").startswith("i-")


def test_imds_v2_serves_the_profile_role_credentials_as_botocore_and_our_chain_read_them(emu):
    make_role(client("iam", emu.url), "r1", "c1", cluster_policy("c1"))
    ec2 = client("ec2", emu.url)
    inst = wait_running(ec2, launch(ec2, profile="r1"))
    url = imds_url(emu, inst)
    creds = InstanceMetadataFetcher(timeout=1, num_attempts=1, base_url=url).retrieve_iam_role_credentials()
    assert creds["role_name"] == "r1" and creds["access_key"].startswith("ASIA")
    session = emu.iam.session(creds["access_key"])
    assert session is not None and session.role == "r1" and session.instance_id == inst["InstanceId"]
    assert creds["secret_key"] == session.secret_key and creds["token"] == session.token
    # A token is required (401 without); an expired token is refused too.
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url + "latest/meta-data/iam/security-credentials/", timeout=2)
    assert info.value.code == 401
    put = urllib.request.Request(url + "latest/api/token", method="PUT",
                                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "1"})
    token = urllib.request.urlopen(put, timeout=2).read().decode()
    get = urllib.request.Request(url + "latest/meta-data/iam/security-credentials/",
                                 headers={"X-aws-ec2-metadata-token": token})
    assert urllib.request.urlopen(get, timeout=2).read() == b"r1"
    time.sleep(1.2)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(get, timeout=2)
    assert info.value.code == 401
    bad_ttl = urllib.request.Request(url + "latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": "21601"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad_ttl, timeout=2)
    assert info.value.code == 400
    tool = os.environ.get("RAYCLUSTER_CREDS_TOOL")
    if tool:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(HERE), "AWS_EC2_METADATA_SERVICE_ENDPOINT": url,
               "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
        ours = json.loads(subprocess.run([tool], env=env, capture_output=True, text=True, check=True).stdout)
        assert ours["ok"] and ours["access_key_id"] == creds["access_key"], ours
        assert ours["has_token"] and ours["source"]


def test_role_credentials_are_held_to_the_role_policy(emu):
    make_role(client("iam", emu.url), "r1", "c1", cluster_policy("c1"))
    admin = client("ec2", emu.url)
    head = wait_running(admin, launch(admin, tags={ID_TAG: "c1"}, profile="r1"))
    foreign = launch(admin, tags={ID_TAG: "other"})
    untagged = launch(admin)
    creds = InstanceMetadataFetcher(timeout=1, num_attempts=1,
                                    base_url=imds_url(emu, head)).retrieve_iam_role_credentials()
    ec2 = client("ec2", emu.url, creds["access_key"], creds["secret_key"], creds["token"])

    def refused(fn, **kwargs):
        with pytest.raises(ClientError) as info:
            fn(**kwargs)
        return info.value.response["Error"]["Code"]

    assert ec2.describe_instances()["Reservations"]
    mine = launch(ec2, tags={ID_TAG: "c1", "ray-node-type": "worker"})
    ec2.create_tags(Resources=[mine], Tags=[{"Key": "ray-node-status", "Value": "up-to-date"}])
    assert refused(ec2.terminate_instances, InstanceIds=[foreign]) == "UnauthorizedOperation"
    assert refused(ec2.terminate_instances, InstanceIds=[untagged]) == "UnauthorizedOperation"
    assert refused(ec2.create_tags, Resources=[foreign], Tags=[{"Key": ID_TAG, "Value": "c1"}]) == \
        "UnauthorizedOperation"
    assert refused(launch, ec2=ec2) == "UnauthorizedOperation"
    assert refused(launch, ec2=ec2, tags={ID_TAG: "other"}) == "UnauthorizedOperation"
    assert refused(ec2.stop_instances, InstanceIds=[mine]) == "UnauthorizedOperation"  # not in this policy
    iam = client("iam", emu.url, creds["access_key"], creds["secret_key"], creds["token"])
    assert refused(iam.get_role, RoleName="r1") == "AccessDenied"
    ec2.terminate_instances(InstanceIds=[mine])
    calls = [c for c in emu.calls() if c.get("principal") == "r1"]
    assert {c["allowed"] for c in calls} == {True, False}
    assert all(c["status"] == 200 for c in calls if c["allowed"])
    assert all(c["status"] == 403 for c in calls if not c["allowed"])


def _moto_statement_verdict(statement, action, resource, context):
    """moto's evaluator on one statement. moto supports only StringEquals and
    counts a missing key as a match, so every key the statement names is
    given (absent ones as "", which no StringEquals of ours matches)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    keys = {k for op in (statement.get("Condition") or {}).values() for k in op}
    lowered = {k.lower(): v for k, v in context.items()}
    values = {k: lowered.get(k.lower(), "") for k in keys}
    result = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [statement]})).is_action_permitted(
        action, resource, incoming_condition_values=values)
    return result == PermissionResult.PERMITTED


def test_the_policy_evaluator_agrees_with_moto_statement_by_statement():
    doc = cluster_policy("c1")
    arn = f"arn:aws:ec2:{REGION}:123456789012"
    cases = [
        ("ec2:RunInstances", f"{arn}:instance/*", {f"aws:RequestTag/{ID_TAG}": "c1"}),
        ("ec2:RunInstances", f"{arn}:instance/*", {f"aws:RequestTag/{ID_TAG}": "c2"}),
        ("ec2:RunInstances", f"{arn}:instance/*", {}),
        ("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-1", {}),
        ("ec2:RunInstances", f"{arn}:subnet/subnet-1", {}),
        ("ec2:CreateTags", f"{arn}:instance/*", {"ec2:CreateAction": "RunInstances",
                                                f"aws:RequestTag/{ID_TAG}": "c1"}),
        ("ec2:CreateTags", f"{arn}:instance/i-1", {f"aws:ResourceTag/{ID_TAG}": "c1"}),
        ("ec2:CreateTags", f"{arn}:instance/i-1", {f"aws:ResourceTag/{ID_TAG}": "c9"}),
        ("ec2:TerminateInstances", f"{arn}:instance/i-1", {f"aws:ResourceTag/{ID_TAG}": "c1"}),
        ("ec2:TerminateInstances", f"{arn}:instance/i-1", {}),
        ("ec2:StopInstances", f"{arn}:instance/i-1", {f"aws:ResourceTag/{ID_TAG}": "c1"}),
        ("ec2:DescribeInstances", "*", {}),
        ("iam:GetRole", "arn:aws:iam::123456789012:role/r", {}),
    ]
    for action, resource, context in cases:
        verdicts = []
        for statement in doc["Statement"]:
            ours = policy.statement_applies(statement, action, resource, context)
            assert ours == _moto_statement_verdict(statement, action, resource, context), \
                (action, resource, context, statement)
            verdicts.append(ours)
        assert (policy.evaluate([doc], action, resource, context) == "allow") == any(verdicts)
    # What moto does not model, ours does: an explicit Deny wins over an Allow.
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]}
    assert policy.evaluate([doc, deny], "ec2:DescribeInstances", "*") == "deny"
