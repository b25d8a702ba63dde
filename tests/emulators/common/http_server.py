"""The HTTP side of the emulators: a threaded HTTP/1.1 server on loopback.

Paths under ``/_emulator/`` are the unsigned control endpoints (answered only
to loopback callers); everything else is the cloud's API, handed to the
emulator as (method, path, headers, body). The server can
close a connection without answering (an injected dropped connection), and
closes every open connection when it stops.
"""
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, emulator, server_version="AmazonEC2"):
        self.emulator = emulator
        self.server_version = server_version
        self._open = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def track(self, sock, opened):
        with self._open_lock:
            (self._open.add if opened else self._open.discard)(sock)

    def close_all(self):
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Reply:
    """An answer: status, body bytes, content type, and whether to drop instead.

    ``request_id`` goes out as ``x-amzn-RequestId``; ``headers`` are extra
    (name, value) pairs."""

    def __init__(self, status=200, body=b"", content_type="text/xml;charset=UTF-8", request_id=None,
                 drop=False, headers=()):
        self.status, self.body, self.content_type = status, body, content_type
        self.request_id, self.drop, self.headers = request_id, drop, list(headers)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonEC2"
    sys_version = ""

    def setup(self):
        super().setup()
        self.server_version = self.server.server_version
        # Headers and body go out in two writes; without this, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _client_is_loopback(self):
        try:
            return ipaddress.ip_address(self.client_address[0]).is_loopback
        except ValueError:
            return False

    def _send(self, reply):
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.request_id:
            self.send_header("x-amzn-RequestId", reply.request_id)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _dispatch(self):
        body = self._read_body()
        emulator = self.server.emulator
        if self.path.startswith("/_emulator/"):
            if not self._client_is_loopback():
                reply = Reply(403, b"control endpoints answer loopback callers only\n", "text/plain")
            else:
                reply = emulator.control(self.command, self.path, body, self.client_address[0])
        else:
            reply = emulator.handle_api(self.command, self.path, self.headers.items(), body)
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch
