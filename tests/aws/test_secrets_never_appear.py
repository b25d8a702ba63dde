"""Known fake credentials (access key, secret key, session token) go through
`up`, `status`, `status --json`, `monitor --once --json` and `down`, against
the EC2 emulator and against an endpoint that echoes request headers into its
error answers: neither the secret key, nor the session token, nor any
request's signature may appear in stdout, stderr, or any file under
RAYCLUSTER_HOME (state, logs, events). State files are 0600, folders 0700."""
import re
import stat

import pytest

from conftest import AwsEnv
from rctest import ssh_key
from ec2 import Ec2Emulator
from test_error_redaction import SECRET_KEY, SESSION_TOKEN, _EchoEc2, _EchoHandler

ACCESS_KEY = "AKIAFAKESECRETSTEST1"
SIGNATURE = re.compile(rb"Signature=([0-9a-f]{64})")


class _SigningWitness(Ec2Emulator):
    """The emulator, keeping every request's signature to look for later."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.signatures = []

    def handle_api(self, method, path, headers, body):
        for name, value in headers:  # (name, value) pairs
            m = SIGNATURE.search(value.encode()) if name.lower() == "authorization" else None
            if m:
                self.signatures.append(m.group(1).decode())
        return super().handle_api(method, path, headers, body)


COMMANDS = [["up", "-y"], ["status"], ["status", "--json"], ["monitor", "--once", "--json"],
            ["get-head-ip"], ["down", "-y"]]


def run_all(env, cfg):
    outputs = []
    for command in COMMANDS:
        proc = env.run(command[0], cfg, *command[1:], check=False, timeout=300)
        outputs.append((command, proc))
    return outputs


def leaks(env, outputs, secrets):
    found = []
    for command, proc in outputs:
        for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            for s in secrets:
                if s in text:
                    found.append(f"{' '.join(command)} {stream} has {s[:12]}...")
    for path in env.home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for s in secrets:
                if s.encode() in data:
                    found.append(f"{path} has {s[:12]}...")
    return found


def check_modes(home):
    bad = []
    for path in home.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if path.is_dir() and mode != 0o700:
            bad.append(f"{path}: folder {oct(mode)}")
        elif path.is_file() and mode & 0o077:
            bad.append(f"{path}: file {oct(mode)}")
    return bad


def test_secrets_stay_out_of_output_and_state_on_the_emulator(tmp_path):
    _, public = ssh_key(tmp_path)
    with _SigningWitness(region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                         session_token=SESSION_TOKEN, boot_seconds=0.5, terminate_seconds=0.5,
                         ssh={"authorized_keys": public, "workdir": str(tmp_path / "hosts")}) as ec2:
        env = AwsEnv(tmp_path, ec2)
        env.env["AWS_SESSION_TOKEN"] = SESSION_TOKEN
        cfg = env.config("secrets", workers=1, max_workers=2)
        outputs = run_all(env, cfg)
        for command, proc in outputs:
            assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        assert len(ec2.signatures) > 10, "the emulator saw few signed requests"
        assert leaks(env, outputs, [SECRET_KEY, SESSION_TOKEN, *ec2.signatures]) == []
        assert check_modes(env.home) == []


@pytest.fixture
def echo(tmp_path):
    (tmp_path / "id_ed25519").write_text("not a key\n")
    _EchoHandler.signatures.clear()
    with _EchoEc2() as ec2:
        env = AwsEnv(tmp_path, ec2)
        env.env["AWS_SESSION_TOKEN"] = SESSION_TOKEN
        env.env["AWS_MAX_ATTEMPTS"] = "1"
        yield env


def test_secrets_echoed_by_an_endpoint_stay_out_of_output_and_state(echo):
    cfg = echo.config("echoed", workers=0, max_workers=1)
    outputs = run_all(echo, cfg)
    assert any(p.returncode != 0 and "InvalidParameterValue" in p.stdout + p.stderr
               for _, p in outputs), "the endpoint's error never came through"
    assert _EchoHandler.signatures, "the endpoint saw no signed request"
    assert leaks(echo, outputs, [SECRET_KEY, SESSION_TOKEN, *_EchoHandler.signatures]) == []
    assert check_modes(echo.home) == []
