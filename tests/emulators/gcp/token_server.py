"""A standalone threaded HTTP server on loopback around a TokenService.

    service = TokenService({email: public_pem})
    with TokenServer(service) as server:
        server.token_uri      # http://127.0.0.1:PORT/token
        server.metadata_host  # 127.0.0.1:PORT, for GCE_METADATA_HOST

Run as ``python -m tests.emulators.gcp.token_server [--port N]
[--account EMAIL=PUBLIC_KEY.pem ...] [--metadata]`` it serves until killed and
prints its token URI on the first line of stdout.
"""
import argparse
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .token import TokenService


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.service.handle(self.command, self.path, self.headers.items(), body)
        if answer is None:
            answer = 404, {"Content-Type": "text/plain"}, b"Not Found\n"
        status, headers, payload = answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, service):
        self.service = service
        super().__init__(address, _Handler)


class TokenServer:
    """Serves `service` on 127.0.0.1 (port 0: any free port) in a background thread."""

    def __init__(self, service, host="127.0.0.1", port=0):
        self.service = service
        self._httpd = _Server((host, port), service)
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def token_uri(self):
        return self.url + "/token"

    @property
    def metadata_host(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="gcp-token-server")
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account", action="append", default=[],
                        help="EMAIL=PUBLIC_KEY_PEM_FILE (repeatable)")
    parser.add_argument("--metadata", action="store_true", help="answer the metadata token path")
    args = parser.parse_args(argv)
    service = TokenService()
    for spec in args.account:
        email, _, path = spec.partition("=")
        with open(path, encoding="utf-8") as f:
            service.add_service_account(email, f.read())
    if args.metadata:
        service.enable_metadata()
    server = TokenServer(service, port=args.port)
    print(server.token_uri, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
