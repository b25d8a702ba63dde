"""`raycluster up / scale / down` against a second, independent EC2 peer: moto.

moto's server (moto[server] from PyPI, pinned in the venv) runs in a
subprocess with IAM checking on: INITIAL_NO_AUTH_ACTION_COUNT lets exactly the
bootstrap calls through unsigned (create an IAM user, give it an ec2:* policy,
make its access key); from then on every request must carry a valid SigV4
signature of that key and be allowed by the user's policy. The test proves the
checking is on (a wrong secret is refused, an action outside the policy is
denied) before it runs the command line with the user's key.

moto's instances have made-up addresses, and no traffic may leave loopback, so
SSH goes to one real local sshd: auth.ssh_proxy_command is tcp_relay.py, which
joins every connection to that sshd whatever %h is. All nodes thus share one
"machine"; the setup and start commands write files named by
$RAY_CLOUD_INSTANCE_ID, so each node's commands are still checked one by one.

What is checked against moto's own view (botocore, not our client): the
instances of the cluster, their tags, image, type, key pair and security
group; the group's rules (SSH from a /32 only, all traffic within the group);
the imported key pair; and that after `down` nothing of the cluster is pending
or running.

Where moto differs from EC2, our own emulator (tests/emulators/ec2.py, used by
test_aws_e2e.py) is the one that checks us; this test adapts as follows:
  * Signatures. moto re-signs its own re-encoding of the parsed form
    (urlencode) rather than the bytes that arrived, so a client whose valid
    encoding differs from botocore's is refused. Ours writes botocore's bytes
    (space as "+"), so stock moto checks us; test_moto_checks_signatures_
    and_policies shows that a body signed over other bytes is refused.
  * Error bodies. moto answers EC2 errors as <ErrorResponse><Errors><Error>;
    EC2's are <Response><Errors><Error>...<RequestID>. Our client reads both
    (and <ErrorResponse><Error>), so the code, AuthFailure, is named.
  * moto ignores ClientToken (the same token launches again) and launches
    MinCount, not up to MaxCount (we send MinCount == MaxCount); no
    double-launch check is made here.
  * moto changes state at once (running on the first DescribeInstances after
    RunInstances, terminated right after TerminateInstances).
  * moto's instance addresses are not reachable: see the relay above.
"""
import getpass
import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
from rctest import ROOT, raycluster_binary  # noqa: E402
from marked_config import write_config  # noqa: E402
from sshd import Sshd, free_port, make_user_key  # noqa: E402

PYTHON = sys.executable
RELAY = HERE.parent / "tcp_relay.py"
REGION = "us-east-1"

# The unsigned calls moto lets through before it checks every request:
# CreateUser, PutUserPolicy, CreateAccessKey.
BOOTSTRAP_CALLS = 3
EC2_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
}


def _client(url, service, access_key, secret_key):
    session = botocore.session.Session()
    return session.create_client(
        service, region_name=REGION, endpoint_url=url, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))


def _wait_http(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class Moto:
    """moto's server in a subprocess of its own, IAM checks on after bootstrap."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_CALLS),
            "MOTO_PORT": str(self.port),
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
        })
        self.log_path = self.workdir / "moto.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if not _wait_http(self.port, self.proc, time.monotonic() + 30):
                raise RuntimeError(f"moto did not come up: {self.log_text()}")
            self._bootstrap()
        except BaseException:
            self.close()
            raise

    def _bootstrap(self):
        # The only unsigned calls moto accepts (the dummy key signs them, but
        # moto does not check yet): a user, its policy, its access key.
        iam = _client(self.url, "iam", "bootstrap", "bootstrap")
        iam.create_user(UserName="raycluster-test")
        iam.put_user_policy(UserName="raycluster-test", PolicyName="ec2-all",
                            PolicyDocument=json.dumps(EC2_POLICY))
        key = iam.create_access_key(UserName="raycluster-test")["AccessKey"]
        self.access_key = key["AccessKeyId"]
        self.secret_key = key["SecretAccessKey"]
        self.ec2 = _client(self.url, "ec2", self.access_key, self.secret_key)

    def client(self, service, secret_key=None):
        return _client(self.url, service, self.access_key, secret_key or self.secret_key)

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode(errors="replace")[-3000:]
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


class MotoEnv:
    """Like conftest's AwsEnv, for moto and one relayed sshd."""

    def __init__(self, tmp_path, moto, sshd, key):
        self.tmp = tmp_path
        self.moto = moto
        self.sshd = sshd
        self.key = key
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.bin = raycluster_binary()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AWS_") and k != "RAYCLUSTER_CHECKIP_URL"}
        self.env.update({
            "RAYCLUSTER_HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": moto.access_key,
            "AWS_SECRET_ACCESS_KEY": moto.secret_key,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_ENDPOINT_URL_IAM": moto.url,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        })
        self.env.pop("SSH_AUTH_SOCK", None)

    def config(self, name, image_id, workers=2, max_workers=4, autoscaler="local"):
        # %h/%p are not passed: every node is the one sshd.
        relay = shlex.join([PYTHON, str(RELAY), str(self.sshd.port), "127.0.0.1"])
        return write_config(
            self.tmp / f"{name}.yaml", name, workers=workers, max_workers=max_workers,
            marks=self.marks, node_config=f"{{ImageId: {image_id}, InstanceType: m5.large}}",
            provider={"type": "aws", "region": REGION, "endpoint_url": self.moto.url,
                      "ssh_allowed_cidrs": "[127.0.0.1/32]", "cache_stopped_nodes": "false"},
            autoscaler=autoscaler,
            auth={"ssh_user": getpass.getuser(), "ssh_private_key": self.key,
                  "ssh_proxy_command": json.dumps(relay)})

    def run(self, *args, check=True, timeout=120):
        proc = subprocess.run([self.bin, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"raycluster {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\n"
                f"moto log (tail):\n{self.moto.log_text()}")
        return proc

    def status(self, config):
        return json.loads(self.run("status", config, "--json").stdout)


@pytest.fixture
def moto(tmp_path):
    server = Moto(tmp_path)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def env(tmp_path, moto):
    key, public = make_user_key(str(tmp_path / "user"))
    node_home = tmp_path / "node-home"
    node_home.mkdir()
    with Sshd(str(tmp_path / "sshd"), addresses=["127.0.0.1"], authorized_keys=public,
              env={"HOME": str(node_home)}) as sshd:
        yield MotoEnv(tmp_path, moto, sshd, key)


def tag(resource, key):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}.get(key)


def instances(ec2, name, states=("pending", "running")):
    out = []
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:ray-cluster-name", "Values": [name]},
                 {"Name": "instance-state-name", "Values": list(states)}])
    for page in pages:
        for reservation in page["Reservations"]:
            out.extend(reservation["Instances"])
    return out


def an_image(ec2):
    """An x86_64 image moto knows (its bundled list), preferring Ubuntu."""
    images = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"]
    assert images, "moto knows no x86_64 image"
    ubuntu = [i for i in images if "ubuntu" in i.get("Name", "")]
    return sorted(ubuntu or images, key=lambda i: i["ImageId"])[0]["ImageId"]


def signed_post(moto, signed_body, sent_body=None):
    """POSTs sent_body (default: signed_body) to moto's EC2, signed over signed_body."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = AWSRequest(method="POST", url=moto.url + "/", data=signed_body, headers=headers)
    SigV4Auth(Credentials(moto.access_key, moto.secret_key), "ec2", REGION).add_auth(request)
    http = urllib.request.Request(moto.url + "/", data=sent_body or signed_body,
                                  headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=60) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def test_moto_checks_signatures_and_policies(moto):
    # A body signed over other bytes than the ones sent is refused.
    query = b"Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=description"
    assert signed_post(moto, query + b"&Filter.1.Value.1=a+b%3Ac") == 200
    assert signed_post(moto, query + b"&Filter.1.Value.1=a+b%3Ac",
                       query + b"&Filter.1.Value.1=a+b%3Ad") == 401

    # The right key passes.
    moto.ec2.describe_regions()
    # A wrong secret: EC2 answers 401 AuthFailure (as real EC2 does), IAM 403.
    with pytest.raises(ClientError) as bad:
        moto.client("ec2", secret_key="not-the-secret").describe_regions()
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert bad.value.response["Error"]["Code"] == "AuthFailure"
    with pytest.raises(ClientError) as bad:
        moto.client("iam", secret_key="not-the-secret").get_user()
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert bad.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # The right key, an action its policy does not allow.
    with pytest.raises(ClientError) as denied:
        moto.client("iam").list_users()
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_up_scale_down_against_moto(env):
    ec2 = env.moto.ec2
    name = "motopeer"
    image = an_image(ec2)
    cfg = env.config(name, image, workers=2)

    # Checking is on for the command line too: a wrong secret fails `up`
    # before anything is launched.
    right = env.env["AWS_SECRET_ACCESS_KEY"]
    env.env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    out = env.run("up", cfg, "-y", check=False, timeout=60)
    env.env["AWS_SECRET_ACCESS_KEY"] = right
    assert out.returncode != 0
    assert "auth error" in out.stderr and "AuthFailure" in out.stderr
    assert instances(ec2, name, ("pending", "running", "stopping", "stopped")) == []

    env.run("up", cfg, "-y")
    st = env.status(cfg)
    heads = [n for n in st["nodes"] if n["kind"] == "head"]
    workers = [n for n in st["nodes"] if n["kind"] == "worker"]
    assert len(heads) == 1 and len(workers) == 2, st
    assert all(n["status"] == "up-to-date" for n in st["nodes"]), st

    # The types' resources came from moto's DescribeInstanceTypes (botocore's
    # reading of the same answer here): CPU for both, memory for the worker.
    m5 = ec2.describe_instance_types(InstanceTypes=["m5.large"])["InstanceTypes"][0]
    types = st["node_types"]
    assert types["head"]["resources"] == {"CPU": m5["VCpuInfo"]["DefaultVCpus"]}, types
    assert types["worker"]["resources"]["CPU"] == m5["VCpuInfo"]["DefaultVCpus"], types
    assert types["worker"]["resources"]["memory"] == int(
        m5["MemoryInfo"]["SizeInMiB"] * 1024 * 1024 * 0.7), types

    # Every node ran its own commands (all of them on the one relayed sshd).
    head_ip = None
    live = {i["InstanceId"]: i for i in instances(ec2, name)}
    for n in st["nodes"]:
        assert (env.marks / f"{n['id']}.setup").read_text() == "setup\n", f"{n['id']} not set up"
        start = (env.marks / f"{n['id']}.start").read_text()
        if n["kind"] == "head":
            assert start == "head\n"
            head_ip = live[n["id"]].get("PrivateIpAddress")
    for n in workers:
        start = (env.marks / f"{n['id']}.start").read_text().split()
        assert start[0] == "worker" and head_ip and start[1:] == [head_ip], (start, head_ip)

    # moto's own view of what `up` made.
    assert sorted(live) == sorted(n["id"] for n in st["nodes"])
    assert all(i["State"]["Name"] == "running" for i in live.values())
    kinds = sorted(tag(i, "ray-node-type") for i in live.values())
    assert kinds == ["head", "worker", "worker"], kinds
    key_name = f"raycluster_{name}_{REGION}"
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"raycluster-{name}"]}])["SecurityGroups"]
    assert len(groups) == 1
    group = groups[0]
    for i in live.values():
        assert i["ImageId"] == image and i["InstanceType"] == "m5.large"
        assert i["KeyName"] == key_name
        assert [g["GroupId"] for g in i["SecurityGroups"]] == [group["GroupId"]]
    assert tag(group, "ray-cluster-name") == name
    self_rule = ssh_rule = False
    for perm in group["IpPermissions"]:
        for r in perm.get("IpRanges", []):
            assert r["CidrIp"] != "0.0.0.0/0"
            assert r["CidrIp"] == "127.0.0.1/32", perm
            assert perm["IpProtocol"] == "tcp" and perm["FromPort"] == perm["ToPort"] == 22, perm
            ssh_rule = True
        assert perm.get("Ipv6Ranges", []) == [], perm
        if perm["IpProtocol"] == "-1":
            assert [p["GroupId"] for p in perm["UserIdGroupPairs"]] == [group["GroupId"]]
            self_rule = True
    assert ssh_rule and self_rule, group["IpPermissions"]
    pairs = ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
    assert len(pairs) == 1
    public = pathlib.Path(str(env.key) + ".pub").read_text().split()
    assert pairs[0]["PublicKey"].split()[:2] == public[:2]
    assert tag(pairs[0], "ray-cluster-name") == name

    # Scaling below min_workers is refused: lower it first (the node config,
    # hence the launch hash, stays as it is).
    assert env.config(name, image, workers=1) == cfg
    env.run("scale", cfg, "--workers", "1", "-y")
    st = env.status(cfg)
    assert len([n for n in st["nodes"] if n["kind"] == "worker"]) == 1, st
    live = instances(ec2, name)
    assert sorted(i["InstanceId"] for i in live) == sorted(n["id"] for n in st["nodes"])
    assert sorted(tag(i, "ray-node-type") for i in live) == ["head", "worker"]

    env.run("down", cfg, "-y")
    assert instances(ec2, name, ("pending", "running", "stopping", "stopped")) == []
    ever = instances(ec2, name, ("pending", "running", "stopping", "stopped",
                                 "shutting-down", "terminated"))
    assert len(ever) == 3  # the head and two workers, nothing more was launched


def test_moto_refuses_the_head_role_to_a_user_without_iam_rights(env):
    # The default `autoscaler: head` needs a role for the head; moto's IAM,
    # checking the user's ec2:*-only policy, refuses the first IAM call:
    # `up` names it, says what to do, and has launched and created nothing.
    ec2 = env.moto.ec2
    cfg = env.config("norole", an_image(ec2), workers=1, autoscaler=None)
    out = env.run("up", cfg, "-y", check=False, timeout=60)
    assert out.returncode != 0
    assert "IAM refused GetRole (AccessDenied)" in out.stderr, out.stderr
    assert "IamInstanceProfile" in out.stderr and "autoscaler: local" in out.stderr
    assert instances(ec2, "norole", ("pending", "running", "stopping", "stopped")) == []
    assert not list((env.home / "norole").glob("head_role.json"))
