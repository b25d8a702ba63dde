"""GCP credentials end to end: gcp_auth_tool (make_gcp_credentials_source()
over libcurl) against the OAuth2 token endpoint emulator on loopback.

The emulator verifies every assertion with PyJWT and google-auth, so a token
here means Google's own library accepted our RS256 JWT. Each test builds its
own environment: HOME in tmp_path, GCE_METADATA_HOST on a loopback port
(never the real link-local metadata address).
"""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
from gcp.token import TokenService  # noqa: E402
from gcp.token_server import TokenServer  # noqa: E402

EMAIL = "raycluster-test@my-project.iam.gserviceaccount.com"
CLIENT_ID = "764086051850-test.apps.googleusercontent.com"
CLIENT_SECRET = "d-FL95Q19q7MQmFpd7hHD0Ty"
REFRESH_TOKEN = "1//0gTESTrefreshTOKENabcdef"


def tool_path():
    path = os.environ.get("RAYCLUSTER_GCP_AUTH_TOOL")
    if not path:
        path = str(HERE.parents[2] / "build" / "tests" / "gcp" / "gcp_auth_tool")
    assert os.path.exists(path), "build gcp_auth_tool first (ninja -C build) or set RAYCLUSTER_GCP_AUTH_TOOL"
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_key(kind="rsa"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" \
        else ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def rsa_key():
    return make_key()


class Env:
    def __init__(self, tmp_path, service, server, private_pem):
        self.tmp = tmp_path
        self.service = service
        self.server = server
        self.private_pem = private_pem
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "NO_GCE_CHECK",
                                 "GCE_METADATA_HOST")}
        self.env["HOME"] = str(self.home)
        # Nothing listens there: the chain's last step finds no metadata server.
        self.env["GCE_METADATA_HOST"] = "127.0.0.1:%d" % free_port()
        self.outputs = []

    def key_json(self, **override):
        key = {"type": "service_account", "project_id": "my-project",
               "private_key_id": "0123456789abcdef", "private_key": self.private_pem,
               "client_email": EMAIL, "client_id": "1234567890",
               "token_uri": self.server.token_uri}
        key.update(override)
        return json.dumps({k: v for k, v in key.items() if v is not None})

    def user_json(self):
        return json.dumps({"type": "authorized_user", "client_id": CLIENT_ID,
                           "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
                           "token_uri": self.server.token_uri})

    def write(self, name, text):
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def run(self, *args, commands=("get",)):
        """The tool's answers, one dict per command (plus a leading error when building failed)."""
        proc = subprocess.run([tool_path(), *args], input="\n".join(commands) + "\n",
                              capture_output=True, text=True, env=self.env, timeout=60)
        self.outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    def error(self, *args):
        answers = self.run(*args)
        assert answers and not answers[-1]["ok"], answers
        assert answers[-1]["code"] == "auth"
        return answers[-1]["error"]

    def token(self, *args):
        answers = self.run(*args)
        assert answers == [{"ok": True, "token": answers[0].get("token")}], answers
        return answers[0]["token"]

    def assert_no_secrets(self):
        lines = [ln for ln in self.private_pem.splitlines() if ln and "-----" not in ln]
        for out in self.outputs:
            for ln in lines:
                assert ln not in out
            assert CLIENT_SECRET not in out
            assert REFRESH_TOKEN not in out
            assert "eyJhbGciOiJSUzI1NiIs" not in out  # an assertion's first bytes
            for issued in self.service.issued():
                # Tokens appear only as the tool's successful answers, never in an error.
                for line in out.splitlines():
                    if issued in line:
                        assert json.loads(line)["ok"] is True


@pytest.fixture
def make_env(tmp_path, rsa_key):
    started = []

    def make(**service_args):
        private, public = rsa_key
        service = TokenService({EMAIL: public}, **service_args)
        server = TokenServer(service).start()
        started.append(server)
        env = Env(tmp_path, service, server, private)
        started.append(env)
        return env

    yield make
    for item in started:
        if isinstance(item, Env):
            item.assert_no_secrets()
        else:
            item.stop()


@pytest.fixture
def env(make_env):
    return make_env()


def last_call(env):
    calls = env.service.calls()
    assert calls, "the token endpoint was not called"
    return calls[-1]


def test_flat_key_file_gets_a_token_google_auth_accepts(env):
    token = env.token("--key-file", env.write("keys/sa.json", env.key_json()))
    assert env.service.check("Bearer " + token)
    call = last_call(env)
    assert (call["grant"], call["client_email"], call["ok"]) == ("jwt-bearer", EMAIL, True)


@pytest.mark.parametrize("form", ["json-text", "path"])
def test_ray_gcp_credentials_service_account(env, form):
    text = env.key_json()
    credentials = text if form == "json-text" else env.write("ray/key.json", text)
    token = env.token("--gcp-credentials",
                      json.dumps({"type": "service_account", "credentials": credentials}))
    assert env.service.check("Bearer " + token)


def test_ray_credentials_token_is_used_as_is_and_not_refreshed(env):
    env.service.add_static("ya29.static-test-token")
    answers = env.run("--gcp-credentials",
                      json.dumps({"type": "credentials_token", "credentials": "ya29.static-test-token"}),
                      commands=("get", "refresh"))
    assert answers[0] == {"ok": True, "token": "ya29.static-test-token"}
    assert not answers[1]["ok"] and "cannot be refreshed" in answers[1]["error"]
    assert env.service.calls() == []


def test_google_application_credentials(env):
    env.env["GOOGLE_APPLICATION_CREDENTIALS"] = env.write("gac.json", env.key_json())
    token = env.token()
    assert env.service.check("Bearer " + token)


def test_gcloud_adc_authorized_user_uses_the_refresh_token_grant(env):
    env.service.add_authorized_user(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    adc = env.home / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text(env.user_json())
    token = env.token()
    assert env.service.check("Bearer " + token)
    call = last_call(env)
    assert (call["grant"], call["client_id"], call["ok"]) == ("refresh_token", CLIENT_ID, True)


def test_metadata_server_via_gce_metadata_host(env):
    env.service.enable_metadata()
    env.env["GCE_METADATA_HOST"] = env.server.metadata_host
    token = env.token()
    assert env.service.check("Bearer " + token)
    assert last_call(env)["grant"] == "metadata"


def test_expiry_is_now_plus_expires_in(make_env):
    env = make_env(token_lifetime=1234)
    before = time.time()
    [answer] = env.run("--key-file", env.write("k.json", env.key_json()), commands=("fetch",))
    assert answer["ok"]
    assert before + 1234 - 1 <= answer["expires_at"] <= time.time() + 1234 + 1


def test_nothing_found_lists_every_source(env):
    msg = env.error()
    for part in ("no GCP credentials found", "provider.gcp_credentials (not set)",
                 "service_account_key (not set)", "GOOGLE_APPLICATION_CREDENTIALS (not set)",
                 str(env.home / ".config/gcloud/application_default_credentials.json"),
                 "GCE metadata server (http://" + env.env["GCE_METADATA_HOST"]):
        assert part in msg


def test_invalid_grant_when_the_endpoint_clock_is_skewed(make_env):
    # The endpoint's clock runs two hours ahead: our iat is "in the past" by
    # more than the assertion's lifetime, as Google sees a machine whose clock lags.
    env = make_env(now=lambda: time.time() + 7200)
    key = env.write("k.json", env.key_json())
    msg = env.error("--key-file", key)
    assert key in msg
    assert "invalid_grant" in msg
    assert "Token must be a short-lived token" in msg  # the endpoint's error_description
    assert "clock" in msg and "deleted" in msg
    call = last_call(env)
    assert not call["ok"] and "has passed" in call["reason"]


def test_a_key_the_endpoint_does_not_know_is_refused_by_both_verifiers(env):
    other_private, _ = make_key()
    msg = env.error("--key-file", env.write("k.json", env.key_json(private_key=other_private)))
    assert "invalid_grant: Invalid JWT Signature." in msg
    reason = last_call(env)["reason"]
    assert "PyJWT" in reason and "google-auth" in reason
    env.private_pem += "\n" + other_private  # keep it out of every output too


def test_a_revoked_token_is_refreshed_once(env):
    key = env.write("k.json", env.key_json())
    proc = subprocess.Popen([tool_path(), "--key-file", key], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env.env)
    try:
        def ask(command):
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            answer = json.loads(proc.stdout.readline())
            assert answer["ok"], answer
            return answer["token"]

        first = ask("get")
        assert ask("get") == first  # cached
        assert env.service.check("Bearer " + first)
        env.service.revoke(first)
        assert not env.service.check("Bearer " + first)
        second = ask("refresh")
        assert second != first and env.service.check("Bearer " + second)
        assert ask("get") == second
        assert [c["ok"] for c in env.service.calls()] == [True, True]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_endpoint_5xx_is_retried(env):
    key = env.write("k.json", env.key_json())
    env.service.set_faults(status=503, count=1)
    assert env.service.check("Bearer " + env.token("--key-file", key))
    env.service.set_faults(status=503)
    msg = env.error("--key-file", key)
    assert "answered HTTP 503" in msg and msg.endswith("after 3 attempts")
    assert [c["ok"] for c in env.service.calls()] == [False, True, False, False, False]


@pytest.mark.parametrize("case", ["missing", "folder", "malformed", "no-field", "external_account",
                                  "ec-key", "damaged-key"])
def test_bad_key_files_name_the_file(env, case):
    if case == "missing":
        path, expect = str(env.tmp / "nope.json"), "cannot be read"
    elif case == "folder":
        path, expect = str(env.tmp), "cannot be read"
    elif case == "malformed":
        path, expect = env.write("k.json", env.key_json()[:-1]), "not valid JSON"
    elif case == "no-field":
        path, expect = env.write("k.json", env.key_json(client_email=None)), 'lacks "client_email"'
    elif case == "external_account":
        path = env.write("k.json", json.dumps({"type": "external_account", "audience": "//x"}))
        expect = "external_account) is not supported yet"
    elif case == "ec-key":
        path = env.write("k.json", env.key_json(private_key=make_key("ec")[0]))
        expect = "not an RSA key"
    else:
        path = env.write("k.json", env.key_json(private_key=env.private_pem[:300]))
        expect = "private_key cannot be read"
    for args, source in ((["--key-file", path], "service-account key file " + path),
                         ([], "GOOGLE_APPLICATION_CREDENTIALS file " + path)):
        env.env["GOOGLE_APPLICATION_CREDENTIALS"] = path
        msg = env.error(*args)
        assert source in msg and expect in msg, msg
    assert env.service.calls() == []


def test_non_loopback_http_token_uri_is_refused(env):
    key = env.write("k.json", env.key_json(token_uri="http://198.51.100.7/token"))
    msg = env.error("--key-file", key)
    assert key in msg
    assert "token_uri http://198.51.100.7/token is refused" in msg


def test_malformed_ray_gcp_credentials_fail_at_once(env):
    answers = env.run("--gcp-credentials", json.dumps({"type": "oauth", "credentials": "x"}),
                      commands=("get",))
    assert not answers[0]["ok"] and 'provider.gcp_credentials.type "oauth"' in answers[0]["error"]
