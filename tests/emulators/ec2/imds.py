"""An instance's metadata service, IMDSv2 only, on the instance's own address.

Served as EC2 serves it to an instance that requires IMDSv2:

* ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
  (1 to 21600; missing or out of range: 400) answers a session token valid
  for that many seconds; a request carrying ``X-Forwarded-For`` is refused
  (403), as EC2 refuses tokens through proxies;
* every ``GET`` needs ``X-aws-ec2-metadata-token`` with a live token, else 401;
* ``/latest/meta-data/instance-id``;
* ``/latest/meta-data/iam/security-credentials/``: the role's name (404 when
  the instance has no profile);
* ``/latest/meta-data/iam/security-credentials/<role>``: its temporary
  credentials as JSON (Code, LastUpdated, Type, AccessKeyId,
  SecretAccessKey, Token, Expiration), the ones the EC2 emulator accepts and
  checks against the role's policies.

Each request is recorded (method, path, whether a token came, status).
"""
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREDS = "/latest/meta-data/iam/security-credentials/"
MAX_TTL = 21600


class ImdsServer:
    """``credentials()`` returns (role name, Session) or None."""

    def __init__(self, address, port, instance_id, credentials):
        self.instance_id = instance_id
        self.credentials = credentials
        self.tokens = {}  # token -> expiry (time.time())
        self.requests = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((address, port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"imds-{instance_id}", daemon=True)
        self.thread.start()

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _token_ok(self, token):
        with self.lock:
            expiry = self.tokens.get(token or "")
            return expiry is not None and time.time() < expiry

    def _handler(imds):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", content_type="text/plain", extra=()):
                with imds.lock:
                    imds.requests.append({"method": self.command, "path": self.path, "status": status,
                                          "token": bool(self.headers.get("X-aws-ec2-metadata-token"))})
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path != "/latest/api/token":
                    return self._send(404)
                if self.headers.get("X-Forwarded-For"):
                    return self._send(403)
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
                    return self._send(400)
                token = secrets.token_urlsafe(32)
                with imds.lock:
                    imds.tokens[token] = time.time() + int(ttl)
                self._send(200, token.encode(), extra=[("X-aws-ec2-metadata-token-ttl-seconds", ttl)])

            def do_GET(self):
                if not imds._token_ok(self.headers.get("X-aws-ec2-metadata-token")):
                    return self._send(401)
                if self.path == "/latest/meta-data/instance-id":
                    return self._send(200, imds.instance_id.encode())
                if not self.path.startswith(CREDS):
                    return self._send(404)
                found = imds.credentials()
                if found is None:
                    return self._send(404)
                role, session = found
                rest = self.path[len(CREDS):]
                if rest == "":
                    return self._send(200, role.encode())
                if rest != role:
                    return self._send(404)
                body = json.dumps({
                    "Code": "Success", "LastUpdated": session.issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Type": "AWS-HMAC", "AccessKeyId": session.access_key,
                    "SecretAccessKey": session.secret_key, "Token": session.token,
                    "Expiration": session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}, indent=2).encode()
                self._send(200, body, "application/json")

        return Handler
