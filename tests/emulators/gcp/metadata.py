"""The metadata server of one emulated instance, on the instance's own
loopback address, as http://metadata.google.internal is on a VM.

It answers (``Metadata-Flavor: Google`` required, and sent back):

- ``/computeMetadata/v1/instance/service-accounts/`` (list) and
  ``.../service-accounts/{default|EMAIL}/`` with ``?recursive=true``
  (``{"email", "aliases", "scopes"}``, what google-auth reads first),
- ``.../{default|EMAIL}/email``, ``.../scopes``, ``.../token``: a token of
  the instance's service account, registered with the token service (so
  Compute accepts it) and with the IAM world (so Compute checks its
  permissions, ``iam.py``),
- ``/`` (google-auth's ping).

An instance without a service account has none of the service-account paths
(404), as on Compute. The instance's sshd gets ``GCE_METADATA_HOST`` pointing
here (``GceEmulator``), the machine's environment a real VM has by
``metadata.google.internal``.
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PREFIX = "/computeMetadata/v1/instance/service-accounts/"
TOKEN_SECONDS = 3600


class MetadataServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, account, tokens, iam, port=0):
        """``account``: a callable returning ({"email", "scopes"} or None) of
        the instance now; ``tokens``: the token service (add_static);
        ``iam``: the IamWorld (issue_token)."""
        self.account, self.tokens, self.iam = account, tokens, iam
        self.requests = []  # (path, status)
        super().__init__((address, port), _Handler)
        self._thread = None

    @property
    def host(self):
        return f"{self.server_address[0]}:{self.server_address[1]}"

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"metadata-{self.host}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def answer(self, path, query, headers):
        """(status, content type, body text)."""
        if headers.get("metadata-flavor") != "Google":
            return 403, "text/html", "Missing required header: Metadata-Flavor: Google"
        if path == "/" or path == "/computeMetadata/v1/":
            return 200, "application/text", "computeMetadata/\n"
        if not path.startswith(PREFIX):
            return 404, "text/html", "Not Found"
        account = self.account()
        if account is None:
            return 404, "text/html", "Not Found"
        rest = path[len(PREFIX):]
        if rest == "":
            return 200, "application/text", f"default/\n{account['email']}/\n"
        who, _, what = rest.partition("/")
        if who not in ("default", account["email"]):
            return 404, "text/html", "Not Found"
        recursive = parse_qs(query).get("recursive") == ["true"]
        if what == "" and recursive:
            return 200, "application/json", json.dumps(
                {"aliases": ["default"], "email": account["email"], "scopes": account["scopes"]})
        if what == "email":
            return 200, "application/text", account["email"]
        if what == "scopes":
            return 200, "application/text", "\n".join(account["scopes"])
        if what == "token":
            token = self.iam.issue_token(account["email"])
            self.tokens.add_static(token)
            return 200, "application/json", json.dumps(
                {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer"})
        return 404, "text/html", "Not Found"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Metadata Server for VM"
    sys_version = ""

    def do_GET(self):
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, content_type, text = self.server.answer(split.path, split.query, headers)
        self.server.requests.append((split.path, status))
        body = text.encode()
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
