"""An EC2 endpoint whose error bodies echo the request's headers back: `up`,
`status` and `down` report the error (its AWS code, a non-zero exit) but
never the session token, the secret key or the request's signature."""
import http.server
import re
import threading

import pytest

from conftest import AwsEnv

SECRET_KEY = "fakeSecretKeyDoNotPrint0123456789abcdefXY"
SESSION_TOKEN = "FakeSessionTokenDoNotPrint9876543210zyxw"


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    signatures = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        token = self.headers.get("X-Amz-Security-Token", "")
        m = re.search(r"Signature=([0-9a-f]+)", auth)
        if m:
            _EchoHandler.signatures.append(m.group(1))
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
                "<Code>InvalidParameterValue</Code><Message>Bad request with headers\n"
                f"Authorization: {auth}\nX-Amz-Security-Token: {token}\n"
                f"(echo: Authorization={auth}; X-Amz-Security-Token={token})</Message>"
                "</Error></Errors><RequestID>req-echo-1</RequestID></Response>").encode()
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


class _EchoEc2:
    access_key = "AKIAFAKEECHOEXAMPLE1"
    secret_key = SECRET_KEY
    ssh_port = 22

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo(tmp_path):
    (tmp_path / "id_ed25519").write_text("not a key\n")
    _EchoHandler.signatures.clear()
    with _EchoEc2() as ec2:
        env = AwsEnv(tmp_path, ec2)
        env.env["AWS_SESSION_TOKEN"] = SESSION_TOKEN
        env.env["AWS_MAX_ATTEMPTS"] = "1"
        yield env


@pytest.mark.parametrize("command", [["up", "--yes"], ["status"], ["status", "--json"],
                                     ["down", "--yes"]])
def test_echoed_secrets_never_reach_the_terminal(echo, command):
    cfg = echo.config("echoed", workers=0, max_workers=1)
    proc = echo.run(command[0], cfg, *command[1:], check=False, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "InvalidParameterValue" in out, out
    assert _EchoHandler.signatures, "the endpoint saw no signed request"
    for secret in [SESSION_TOKEN, SECRET_KEY, *_EchoHandler.signatures]:
        assert secret not in out, (secret, out)
