"""``Ec2Emulator``: the EC2 Query API (2016-11-15) on loopback, checked.

Each API request goes through, in order:

1. added latency (``latency_ms``), if any;
2. parameter parsing (form body of a POST, query string of a GET; a
   parameter given twice is ``InvalidParameterValue``);
3. the SigV4 check against botocore's signer (``sigv4_check``);
4. the model check of Action, Version and every parameter against botocore's
   EC2 model (``model``);
5. the injected fault, drawn now, before anything takes effect (``faults``);
6. the action, under the world's lock (``instances``, ``network``,
   ``keypairs``, ``catalog``, ``tags``);
7. the answer as XML botocore's EC2 parser reads (``xml_out``), or a dropped
   connection after the effect (``drop_after_effect_rate``).

Every request is recorded with its action, flat parameters, status, fault and
error code. A ticker thread moves instances through their life cycle and
starts/stops the sshd hosts behind running instances when ``ssh`` is given.
"""
import json
import sys
import threading
import traceback
import time
import uuid
from urllib.parse import parse_qsl, urlsplit

from . import catalog, instances, keypairs, network, tags, volumes  # noqa: F401 - they register the handlers
from . import iam as iam_api
from . import policy
from .common import HANDLERS
from .errors import Ec2Error
from .faults import INJECTED, Faults
from .http_server import Reply, Server
from .model import decode_request
from .imds import ImdsServer
from .sigv4_check import check_request, credential_scope
from .state import ACCOUNT_ID, World
from .xml_out import error_xml, response_xml


class Api:
    """What a handler sees: the world, the faults and the raw parameters."""

    def __init__(self, world, faults, raw_params):
        self.world, self.faults, self.raw_params = world, faults, raw_params


def _parse_params(method, path, headers, body):
    split = urlsplit(path)
    try:
        pairs = parse_qsl(split.query, keep_blank_values=True, strict_parsing=bool(split.query))
        if method == "POST" and body:
            content_type = dict((k.lower(), v) for k, v in headers).get("content-type", "")
            if not content_type.lower().startswith("application/x-www-form-urlencoded"):
                raise Ec2Error("InvalidParameterValue",
                               f"Content-Type must be application/x-www-form-urlencoded, not '{content_type}'")
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except ValueError as error:  # includes bodies that are not UTF-8
        raise Ec2Error("MalformedQueryString", f"The request's parameters cannot be parsed: {error}") from None
    params = {}
    for key, value in pairs:
        if key in params:
            raise Ec2Error("InvalidParameterValue", f"The parameter {key} is specified more than once")
        params[key] = value
    return params


class Ec2Emulator:
    """An EC2 endpoint on loopback for one region and one set of credentials.

    ``ssh``: None, or dict(authorized_keys=str, port=int, internal_loopback=bool,
    workdir=str) to back each running instance with a real sshd."""

    def __init__(self, region="us-east-1", access_key="AKIDEMULATOR", secret_key="emulator-secret",
                 session_token=None, boot_seconds=2.0, terminate_seconds=1.0, terminated_visible_seconds=60.0,
                 ssh=None, host="127.0.0.1", port=0):
        self.region, self.access_key, self.secret_key = region, access_key, secret_key
        self.session_token = session_token
        self.host, self.port = host, port
        self.ssh = dict(ssh) if ssh is not None else None
        self.world = World(region, boot_seconds=boot_seconds, terminate_seconds=terminate_seconds,
                           terminated_visible_seconds=terminated_visible_seconds, ssh_backed=ssh is not None,
                           internal_loopback=bool((ssh or {}).get("internal_loopback")))
        self.faults = Faults()
        # IAM on the same port; instances launched with its profiles get an
        # IMDS on their own address, whose credentials are checked against
        # the role's policies on every EC2 call (see iam.py, imds.py, policy.py).
        self.iam = iam_api.IamWorld()
        self.world.iam = self.iam
        self.imds_port = None
        self.hosts = None
        self.host_errors = []  # (instance id, message) of sshd hosts that did not come up
        self._calls = []
        self._calls_lock = threading.Lock()
        self._server = None
        self._threads = []
        self._stopping = threading.Event()
        self._booting = {}

    # -- life cycle ------------------------------------------------------------

    def start(self):
        if self.ssh is not None:
            from .sshhosts import SshHosts
            self.hosts = SshHosts(self.ssh.get("authorized_keys", ""), self.ssh.get("port"),
                                  self.ssh.get("workdir"), bool(self.ssh.get("internal_loopback")))
        self._server = Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        if self.hosts is not None:
            import socket
            with socket.socket() as probe:
                probe.bind(("127.77.0.1", 0))
                self.imds_port = probe.getsockname()[1]
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="ec2-emulator-http", daemon=True)
        tick = threading.Thread(target=self._tick_loop, name="ec2-emulator-ticker", daemon=True)
        self._threads = [serve, tick]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        """Stops serving, closes open connections and ends every sshd started."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        for thread in list(self._booting.values()):
            thread.join(timeout=30)
        with self.world.lock:
            hosts = [i.host for i in self.world.instances.values() if i.host is not None]
            for inst in self.world.instances.values():
                inst.host = None
        for host in hosts:
            self._stop_host(host)
        if self.hosts is not None:
            self.hosts.close()
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def ssh_port(self):
        """The port every instance's sshd listens on (None without ``ssh``)."""
        return self.hosts.port if self.hosts is not None else None

    # -- inspection ------------------------------------------------------------

    def set_faults(self, config):
        self.faults.set(config)

    def calls(self):
        with self._calls_lock:
            return [dict(c) for c in self._calls]

    def reset_calls(self):
        with self._calls_lock:
            self._calls.clear()

    def instances(self):
        with self.world.lock:
            self.world.advance()
            return [self.world.instance_summary(i) for i in self.world.visible_instances()]

    def key_pairs(self):
        with self.world.lock:
            return [self.world.key_pair_summary(k) for k in self.world.key_pairs.values()]

    def security_groups(self):
        with self.world.lock:
            return [self.world.group_summary(g) for g in self.world.groups.values()]

    def state(self):
        return {"instances": self.instances(), "key_pairs": self.key_pairs(),
                "security_groups": self.security_groups(), "calls": self.calls(), "iam": self.iam_state(),
                "faults": self.faults.get(), "host_errors": list(self.host_errors), "ssh_port": self.ssh_port}

    # -- the ticker: life cycle and sshd hosts ---------------------------------

    def _tick_loop(self):
        while not self._stopping.wait(0.05):
            self.tick()

    def tick(self):
        with self.world.lock:
            self.world.advance()
            stale = self.world.hosts_to_stop()
            due = self.world.hosts_to_boot() if self.hosts is not None else []
        for host in stale:
            self._stop_host(host)
        for instance_id, generation, addresses, key in due:
            if instance_id in self._booting or self._stopping.is_set():
                continue
            thread = threading.Thread(target=self._boot, args=(instance_id, generation, addresses, key),
                                      name=f"boot-{instance_id}", daemon=True)
            self._booting[instance_id] = thread
            thread.start()

    @staticmethod
    def _stop_host(host):
        from .sshhosts import SshHosts
        SshHosts.stop(host)
        imds = getattr(host, "imds", None)
        if imds is not None:
            imds.stop()

    def _boot(self, instance_id, generation, addresses, key):
        host = None
        try:
            if addresses:
                # The machine's environment, as an EC2 instance has it: its
                # metadata service on its own address, and where EC2 is.
                env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://{addresses[0]}:{self.imds_port}/",
                       "AWS_ENDPOINT_URL_EC2": self.url}
                try:
                    host = self.hosts.start(instance_id, addresses, key, env=env)
                    host.imds = ImdsServer(addresses[0], self.imds_port, instance_id,
                                           lambda: self._instance_credentials(instance_id))
                except (RuntimeError, OSError) as error:
                    if host is not None:
                        host.stop()
                        host = None
                    self.host_errors.append((instance_id, str(error)))
            with self.world.lock:
                took = self.world.finish_boot(instance_id, generation, host)
            if not took and host is not None:
                self._stop_host(host)
        finally:
            self._booting.pop(instance_id, None)

    def _instance_credentials(self, instance_id):
        with self.world.lock:
            inst = self.world.instances.get(instance_id)
            arn = inst.iam_profile["Arn"] if inst is not None and inst.iam_profile else None
        return self.iam.instance_credentials(instance_id, arn) if arn else None

    def iam_state(self):
        return self.iam.summary()

    # -- the API -----------------------------------------------------------------

    def _record(self, **entry):
        entry["time"] = time.time()
        with self._calls_lock:
            self._calls.append(entry)

    def _error(self, error, request_id):
        return Reply(error.status, error_xml(error.code, error.message, request_id, self.faults.error_shape,
                                             error.status), request_id=request_id)

    def _temporary(self, key_id):
        session = self.iam.session(key_id)
        return (session.secret_key, session.token) if session is not None else None

    def handle_api(self, method, path, headers, body):
        if credential_scope(headers)[2] == "iam":
            return self._handle_iam(method, path, headers, body)
        request_id = str(uuid.uuid4())
        latency = self.faults.latency_ms
        if latency:
            time.sleep(latency / 1000.0)
        params, action, who = {}, None, {}
        try:
            if method not in ("GET", "POST"):
                raise Ec2Error("InvalidParameterValue", f"The HTTP method {method} is not supported")
            params = _parse_params(method, path, headers, body)
            action = params.get("Action")
            check_request(method, path, headers, body, access_key=self.access_key, secret_key=self.secret_key,
                          region=self.region, session_token=self.session_token, temporary=self._temporary)
            action, decoded = decode_request(params)
            who = self._authorize(headers, action, decoded)
            before, after_effect = self.faults.draw(action)
            if before == "drop":
                self._record(action=action, params=params, status=None, fault="drop", error=None,
                             request_id=request_id, **who)
                return Reply(drop=True)
            if before is not None:
                code, status, message = INJECTED[before]
                raise Ec2Error(code, message, status=status, fault=before)
            handler = HANDLERS.get(action)
            if handler is None:
                raise Ec2Error("UnsupportedOperation", f"The action {action} is not emulated")
            with self.world.lock:
                self.world.advance()
                if decoded.get("DryRun") and action.startswith("Describe"):
                    raise Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.",
                                   status=412)
                result = handler(Api(self.world, self.faults, params), decoded)
                body_out = response_xml(action, result, request_id)
            if after_effect:
                self._record(action=action, params=params, status=None, fault="drop_after_effect", error=None,
                             request_id=request_id, **who)
                return Reply(drop=True)
            self._record(action=action, params=params, status=200, fault=None, error=None, request_id=request_id,
                         **who)
            return Reply(200, body_out, request_id=request_id)
        except Ec2Error as error:
            who = who or getattr(error, "who", {})
            self._record(action=action, params=params, status=error.status, fault=error.fault, error=error.code,
                         request_id=request_id, **who)
            return self._error(error, request_id)
        except Exception:  # a bug in the emulator: say so loudly, as a 500 the client sees
            message = traceback.format_exc()
            sys.stderr.write(message)
            self._record(action=action, params=params, status=500, fault=None, error="EmulatorBug",
                         request_id=request_id)
            return self._error(Ec2Error("InternalError", "emulator bug: " + message, status=500), request_id)

    def _authorize(self, headers, action, decoded):
        """For an instance role's credentials: the role and what its policies
        said (every authorization the request needs, as policy.py derives
        them); UnauthorizedOperation when one is not allowed."""
        session = self.iam.session(credential_scope(headers)[0])
        if session is None:
            return {}
        with self.world.lock:
            requests = policy.ec2_authorizations(self.world, action, decoded, self.region, ACCOUNT_ID)
        allowed, refused = policy.authorize(self.iam.policies_of(session.role), requests)
        who = {"principal": session.role, "instance": session.instance_id,
               "authorizations": [list(r[:2]) + [dict(r[2])] for r in requests], "allowed": allowed}
        if not allowed:
            error = Ec2Error("UnauthorizedOperation",
                             f"You are not authorized to perform this operation. User: "
                             f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{session.role}/{session.instance_id} "
                             f"is not authorized to perform: {refused[0]} on resource: {refused[1]}",
                             status=403)
            error.who = who
            raise error
        return who

    def _handle_iam(self, method, path, headers, body):
        request_id = iam_api.new_request_id()
        params, action, who = {}, None, {}
        try:
            if method != "POST":
                raise iam_api.iam_error("InvalidAction", f"The HTTP method {method} is not supported")
            params = _parse_params(method, path, headers, body)
            action = params.get("Action")
            try:
                check_request(method, path, headers, body, access_key=self.access_key,
                              secret_key=self.secret_key, region=iam_api.SIGNING_REGION,
                              session_token=self.session_token, service="iam", temporary=self._temporary)
            except Ec2Error as error:
                code = "InvalidClientTokenId" if error.code == "AuthFailure" else error.code
                raise iam_api.iam_error(code, error.message) from None
            action, decoded = iam_api.decode_request(params)
            session = self.iam.session(credential_scope(headers)[0])
            if session is not None:
                resource = f"arn:aws:iam::{ACCOUNT_ID}:role/{decoded.get('RoleName', '*')}"
                verdict = policy.evaluate(self.iam.policies_of(session.role), "iam:" + action, resource, {})
                who = {"principal": session.role, "instance": session.instance_id,
                       "authorizations": [["iam:" + action, resource, {}]], "allowed": verdict == "allow"}
                if verdict != "allow":
                    raise iam_api.iam_error("AccessDenied", f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/"
                                            f"{session.role}/{session.instance_id} is not authorized to "
                                            f"perform: iam:{action} on resource: {resource}")
            inner = self.iam.handle(action, decoded)
            self._record(service="iam", action=action, params=params, status=200, fault=None, error=None,
                         request_id=request_id, **who)
            return Reply(200, iam_api.response_xml(action, inner, request_id), "text/xml", request_id=request_id)
        except Ec2Error as error:
            self._record(service="iam", action=action, params=params, status=error.status, fault=None,
                         error=error.code, request_id=request_id, **who)
            return Reply(error.status, iam_api.error_xml(error.code, error.message, request_id), "text/xml",
                         request_id=request_id)

    # -- control endpoints -----------------------------------------------------

    def control(self, method, path, body, client_address):
        route = urlsplit(path).path
        try:
            if method == "GET" and route == "/_emulator/state":
                return Reply(200, json.dumps(self.state(), default=str).encode(), "application/json")
            if method == "GET" and route == "/_emulator/checkip":
                return Reply(200, f"{client_address}\n".encode(), "text/plain")
            if method == "POST" and route == "/_emulator/faults":
                self.set_faults(json.loads(body or b"{}"))
                return Reply(200, b'{"ok": true}', "application/json")
            if method == "POST" and route == "/_emulator/reset-calls":
                self.reset_calls()
                return Reply(200, b'{"ok": true}', "application/json")
        except ValueError as error:
            return Reply(400, json.dumps({"error": str(error)}).encode(), "application/json")
        return Reply(404, b'{"error": "no such control endpoint"}', "application/json")
