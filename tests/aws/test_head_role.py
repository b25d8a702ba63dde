"""The autoscaler on an AWS head, with the least-privileged role `up` makes.

On the EC2 emulator (IAM on the same endpoint, given to `up` as
AWS_ENDPOINT_URL_IAM): `up` creates the role and instance profile and
launches the head with it; the head's sshd gives its sessions the machine's
environment (AWS_EC2_METADATA_SERVICE_ENDPOINT of the instance's own IMDS,
AWS_ENDPOINT_URL_EC2), so the autoscaler `up` starts there calls EC2 with the
instance role's temporary credentials, and the emulator evaluates each of
those calls against the role's policy. Demand comes from `request-resources`
(the instances run no Ray). Checked: every call the head made was allowed
and was made with the role's credentials, no secret of this machine reached
the head, calls outside the policy are refused, `down` stops the autoscaler
first and removes role and profile; an IAM refusal stops `up` before
anything is launched and leaves nothing behind.
"""
import json
import pathlib
import time

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.utils import InstanceMetadataFetcher
from rctest import wait_for


def figures(name, **values):
    # Shown with `pytest -s`; the report quotes them.
    print(f"\n[figures] {name}: " + json.dumps({k: round(v, 3) for k, v in values.items()}))


def live(ec2, name):
    return [i for i in ec2.instances()
            if i["tags"].get("ray-cluster-name") == name and i["state"] in ("pending", "running")]


def role_calls(ec2, role):
    return [c for c in ec2.calls() if c.get("principal") == role]


def test_the_head_autoscaler_runs_with_the_role_up_made(aws):
    name = "roled"
    cfg = aws.config(name, workers=0, max_workers=2, autoscaler=None)  # the default: head
    up = aws.run("up", cfg, "-y")
    up_returned = time.time()
    out = up.stdout + up.stderr
    st = aws.status(cfg)
    assert st["autoscaler"]["site"] == "head" and st["autoscaler"]["alive"], st["autoscaler"]
    iam = aws.ec2.iam_state()
    assert len(iam["roles"]) == 1 and len(iam["instance_profiles"]) == 1, iam
    role = iam["roles"][0]
    cluster_id = st["cluster_id"]
    assert role["name"].startswith(f"raycluster-{name}-") and role["tags"]["raycluster-id"] == cluster_id
    assert iam["instance_profiles"][0]["roles"] == [role["name"]]
    assert "ec2.amazonaws.com" in role["trust"]
    # The policy is the one README.md shows users.
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("#### The head's IAM role", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    shown = shown.replace("REGION", "us-east-1").replace('"ID"', json.dumps(cluster_id))
    assert json.loads(role["policies"]["raycluster-autoscaler"]) == json.loads(shown)
    assert "created the head's IAM role" in out
    [head] = live(aws.ec2, name)
    assert head["iam_instance_profile"]["Arn"].endswith("/" + role["name"])

    # The head autoscaler's first tick, made with the instance's credentials.
    report = wait_for(lambda: (lambda r: r if r and r.get("last_tick") else None)(
        aws.status(cfg)["autoscaler"]["report"]), 60, "the head autoscaler's first tick")
    figures("aws head autoscaler", first_tick_after_up_returned_s=report["last_tick"] - up_returned)
    wait_for(lambda: role_calls(aws.ec2, role["name"]), 30, "a call with the role's credentials")

    # Demand the head cannot hold: the head autoscaler launches a worker.
    aws.run("request-resources", cfg, "--cpus", "4")
    wait_for(lambda: [c for c in role_calls(aws.ec2, role["name"])
                      if c["action"] == "RunInstances" and c["status"] == 200], 90, "the head's launch")
    workers = wait_for(lambda: [i for i in live(aws.ec2, name) if i["tags"].get("ray-node-type") == "worker"],
                       30, "a worker")
    assert all(w["tags"]["raycluster-id"] == cluster_id for w in workers)
    assert not workers[0]["iam_instance_profile"]

    # Everything the head asked EC2 for was allowed by the role's policy;
    # and it asked nothing of IAM.
    calls = role_calls(aws.ec2, role["name"])
    assert calls and all(c["allowed"] and c.get("service") != "iam" for c in calls), \
        [c for c in calls if not c["allowed"]]
    actions = {c["action"] for c in calls}
    assert {"DescribeInstances", "RunInstances"} <= actions, actions
    # No key of this machine's reached the head's disk.
    for path in (aws.tmp / "hosts" / head["id"]).rglob("*"):
        if path.is_file() and path.stat().st_size < (1 << 20):
            data = path.read_bytes()
            assert aws.ec2.secret_key.encode() not in data, path
            assert aws.ec2.access_key.encode() not in data, path

    # With the head's credentials: outside the policy is refused.
    head_run = [i for i in live(aws.ec2, name) if i["id"] == head["id"]][0]
    fetcher = InstanceMetadataFetcher(timeout=1, num_attempts=1,
                                      base_url=f"http://{head_run['public_ip']}:{aws.ec2.imds_port}/")
    creds = fetcher.retrieve_iam_role_credentials()
    session = botocore.session.get_session()
    kw = dict(endpoint_url=aws.ec2.url, region_name="us-east-1", aws_access_key_id=creds["access_key"],
              aws_secret_access_key=creds["secret_key"], aws_session_token=creds["token"],
              config=Config(retries={"total_max_attempts": 1}))
    as_head = session.create_client("ec2", **kw)
    admin = session.create_client("ec2", endpoint_url=aws.ec2.url, region_name="us-east-1",
                                  aws_access_key_id=aws.ec2.access_key, aws_secret_access_key=aws.ec2.secret_key,
                                  config=Config(retries={"total_max_attempts": 1}))
    stranger = admin.run_instances(ImageId=head["image_id"], MinCount=1, MaxCount=1,
                                   InstanceType="m5.large")["Instances"][0]["InstanceId"]
    for call, kwargs in [(as_head.terminate_instances, {"InstanceIds": [stranger]}),
                         (as_head.run_instances, {"ImageId": head["image_id"], "MinCount": 1, "MaxCount": 1}),
                         (as_head.create_tags, {"Resources": [stranger],
                                                "Tags": [{"Key": "raycluster-id", "Value": cluster_id}]})]:
        try:
            call(**kwargs)
            raise AssertionError(f"{call.__name__} was allowed")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "UnauthorizedOperation"
    try:
        session.create_client("iam", **kw).get_role(RoleName=role["name"])
        raise AssertionError("the head may read IAM")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied"
    admin.terminate_instances(InstanceIds=[stranger])

    down = aws.run("down", cfg, "-y")
    lines = (down.stdout + down.stderr).splitlines()
    stop_at = next(i for i, line in enumerate(lines) if "stopping the head autoscaler" in line)
    gone_at = next(i for i, line in enumerate(lines) if "deleted the head's IAM role" in line)
    assert stop_at < gone_at
    assert live(aws.ec2, name) == []
    assert aws.ec2.iam_state() == {"roles": [], "instance_profiles": []}


def test_an_iam_refusal_stops_up_before_anything_is_launched(aws):
    for refused in ("CreateRole", "PutRolePolicy", "CreateInstanceProfile"):
        aws.ec2.iam.denied = {refused}
        cfg = aws.config("denied", workers=1, max_workers=2, autoscaler=None)
        out = aws.run("up", cfg, "-y", check=False)
        assert out.returncode != 0
        text = out.stdout + out.stderr
        assert f"IAM refused {refused} (AccessDenied)" in text, text
        assert "IamInstanceProfile" in text and "autoscaler: local" in text
        assert [c for c in aws.ec2.calls() if c["action"] == "RunInstances"] == []
        assert aws.ec2.instances() == []
        assert aws.ec2.iam_state() == {"roles": [], "instance_profiles": []}
    # Nothing to leak either: `down` finds nothing, and asks IAM nothing.
    aws.ec2.reset_calls()
    aws.run("down", cfg, "-y")
    assert [c for c in aws.ec2.calls() if c.get("service") == "iam"] == []
