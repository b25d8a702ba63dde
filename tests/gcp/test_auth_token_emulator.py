"""The token endpoint emulator itself (tests/emulators/gcp/token.py), checked
with google-auth as the client: Google's own library gets tokens from it for a
service-account key and an authorized_user, and its refusals have Google's
shapes. Also the cases our client never produces (a mislabelled algorithm,
a missing scope, a foreign audience), which the emulator must refuse.
"""
import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import google.oauth2.service_account
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "emulators"))
from gcp.token import JWT_BEARER, TokenService  # noqa: E402
from gcp.token_server import TokenServer  # noqa: E402

EMAIL = "emulator-test@my-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def key():
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode()
    public = k.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture
def served(key):
    service = TokenService({EMAIL: key[1]})
    with TokenServer(service) as server:
        yield service, server


def post(url, form):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def assertion(private, aud, iat=None, alg="RS256", **claims):
    iat = int(time.time()) if iat is None else iat
    body = {"iss": EMAIL, "scope": "https://www.googleapis.com/auth/cloud-platform", "aud": aud,
            "iat": iat, "exp": iat + 3600}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    token = jwt.encode(body, private, algorithm="RS256", headers={"kid": "k1"})
    if alg != "RS256":  # relabel the header, keep the RSA signature
        header = jwt.utils.base64url_encode(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"})
                                            .encode()).decode()
        token = header + token[token.index("."):]
    return token


def test_google_auth_service_account_credentials_get_a_token(served, key):
    service, server = served
    info = {"type": "service_account", "private_key": key[0], "private_key_id": "k1",
            "client_email": EMAIL, "token_uri": server.token_uri, "project_id": "my-project"}
    creds = google.oauth2.service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(google.auth.transport.requests.Request())
    assert service.check("Bearer " + creds.token)
    assert service.calls()[-1]["ok"]


def test_google_auth_authorized_user_credentials_get_a_token(served):
    service, server = served
    service.add_authorized_user("cid", "csecret", "rtoken")
    creds = google.oauth2.credentials.Credentials(None, refresh_token="rtoken", client_id="cid",
                                                  client_secret="csecret",
                                                  token_uri=server.token_uri)
    creds.refresh(google.auth.transport.requests.Request())
    assert service.check("Bearer " + creds.token)
    bad = google.oauth2.credentials.Credentials(None, refresh_token="other", client_id="cid",
                                                client_secret="csecret", token_uri=server.token_uri)
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        bad.refresh(google.auth.transport.requests.Request())


def test_google_s_audience_and_the_served_uri_are_both_accepted(served, key):
    service, server = served
    for aud in (server.token_uri, "https://oauth2.googleapis.com/token"):
        status, body = post(server.token_uri, {"grant_type": JWT_BEARER,
                                               "assertion": assertion(key[0], aud)})
        assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    status, body = post(server.token_uri, {"grant_type": JWT_BEARER,
                                           "assertion": assertion(key[0], "https://example.com/token")})
    assert (status, body["error"]) == (400, "invalid_grant")


def test_a_mislabelled_algorithm_is_refused_by_both_verifiers(served, key):
    service, server = served
    status, body = post(server.token_uri, {"grant_type": JWT_BEARER,
                                           "assertion": assertion(key[0], server.token_uri,
                                                                  alg="HS256")})
    assert (status, body["error"]) == (400, "invalid_grant")
    reason = service.calls()[-1]["reason"]
    assert "PyJWT: InvalidAlgorithmError" in reason and "google-auth: " in reason


def test_when_the_verifiers_disagree_the_assertion_is_refused(served, key, monkeypatch):
    service, server = served
    # google-auth made to accept anything: PyJWT still refuses a foreign aud.
    monkeypatch.setattr(service, "_check_google_auth", lambda *args: None)
    status, body = post(server.token_uri, {"grant_type": JWT_BEARER,
                                           "assertion": assertion(key[0], "https://example.com/t")})
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "disagree" in service.calls()[-1]["reason"]


@pytest.mark.parametrize("case,error", [
    ("no-scope", "invalid_scope"), ("future-iat", "invalid_grant"), ("long-lived", "invalid_grant"),
    ("unknown-grant", "unsupported_grant_type"), ("no-assertion", "invalid_request")])
def test_refusals_have_google_s_shape(served, key, case, error):
    service, server = served
    form = {"grant_type": JWT_BEARER}
    if case == "no-scope":
        form["assertion"] = assertion(key[0], server.token_uri, scope=None)
    elif case == "future-iat":
        form["assertion"] = assertion(key[0], server.token_uri, iat=int(time.time()) + 600)
    elif case == "long-lived":
        form["assertion"] = assertion(key[0], server.token_uri, exp=int(time.time()) + 7200)
    elif case == "unknown-grant":
        form["grant_type"] = "password"
    status, body = post(server.token_uri, form)
    assert status == 400
    assert body["error"] == error and body["error_description"]
    assert not service.calls()[-1]["ok"]


def test_metadata_path_needs_the_flavor_header_and_enable_metadata(served):
    service, server = served
    url = server.url + "/computeMetadata/v1/instance/service-accounts/default/token"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Metadata-Flavor": "Google"}))
    assert e.value.code == 404  # not enabled: not this service's path
    service.enable_metadata()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})) as r:
        assert r.headers["Metadata-Flavor"] == "Google"
        token = json.loads(r.read())["access_token"]
    assert service.check("Bearer " + token)
    service.revoke_all()
    assert not service.check("Bearer " + token)


def test_tokens_expire_on_the_service_clock(key):
    clock = [time.time()]
    service = TokenService({EMAIL: key[1]}, now=lambda: clock[0], token_lifetime=60)
    status, headers, body = service.handle(
        "POST", "/token", {"Host": "127.0.0.1:1"},
        urllib.parse.urlencode({"grant_type": JWT_BEARER,
                                "assertion": assertion(key[0], "http://127.0.0.1:1/token")}))
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    token = json.loads(body)["access_token"]
    assert service.check("Bearer " + token)
    clock[0] += 61
    assert not service.check("Bearer " + token)
    assert not service.check(token)  # without "Bearer "
    assert service.handle("GET", "/other", {}, b"") is None
