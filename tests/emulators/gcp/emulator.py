"""``GceEmulator``: Compute Engine v1 REST on loopback, checked.

Each request goes through, in order:

1. paths outside ``/compute/v1/`` go to the token service (``/token``, the
   metadata server's token paths), or are 404;
2. the bearer token, checked by the token service (401 otherwise);
3. the route, then the added latency of the method (``latency_ms``), then
   the path parameters, query parameters and JSON body, checked against
   Google's discovery document (``discovery``);
4. the project, zone and region of the path against the emulated ones;
5. the injected fault, drawn now, before anything takes effect (``faults``);
6. the method, under the world's lock (``instances``, ``resources``);
7. the JSON answer, itself checked against the method's response schema
   (a misfit is an emulator bug, answered 500), or a dropped connection
   after the effect.

Every request is recorded (``calls``). A ticker thread moves instances and
operations through their life cycles and starts/stops the sshd hosts behind
running instances when ``ssh`` is given.
"""
import json
import sys
import threading
import time
import traceback
from urllib.parse import parse_qsl, urlsplit

from . import iam as iam_api
from . import disks, instances, resources  # noqa: F401 - they register the handlers
from .common import HANDLERS
from .discovery import Discovery
from .errors import GceError
from .faults import INJECTED, Faults
from .state import World
from common.http_server import Reply, Server  # tests/emulators is on sys.path (see __init__)

JSON = "application/json; charset=UTF-8"
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                   "or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
_DISCOVERY = None
_DISCOVERY_LOCK = threading.Lock()


def shared_discovery():
    """The discovery document, loaded once per process (it is 6 MB)."""
    global _DISCOVERY
    with _DISCOVERY_LOCK:
        if _DISCOVERY is None:
            _DISCOVERY = Discovery()
        return _DISCOVERY


class Api:
    """What a handler sees."""

    def __init__(self, world, faults, wait_seconds):
        self.world, self.faults, self.wait_seconds = world, faults, wait_seconds
        self.metadata_changed = []


def _default_tokens():
    try:
        from .token import TokenService
    except ImportError:
        raise ValueError("no token service: pass tokens= (an object with check() and handle())") from None
    return TokenService()


class GceEmulator:
    """A Compute endpoint on loopback for one project and one region.

    ``tokens``: the token service (``token.TokenService`` by default) whose
    ``check`` accepts the bearer tokens and whose ``handle`` answers the
    paths this emulator does not serve; ``access_tokens`` are added to it as
    static tokens. ``ssh``: None, or dict(authorized_keys=str, port=int,
    workdir=str) to back each running instance with a real sshd."""

    def __init__(self, project="emulated-project", region="us-central1", *, tokens=None, access_tokens=(),
                 ssh=None, host="127.0.0.1", port=0, provision_seconds=0.3, staging_seconds=0.3,
                 stop_seconds=0.3, delete_seconds=0.3, pending_seconds=0.05, quick_seconds=0.1,
                 wait_seconds=3.0):
        self.project, self.region, self.host, self.port = project, region, host, port
        self.tokens = tokens if tokens is not None else _default_tokens()
        for token in access_tokens:
            self.tokens.add_static(token)
        self.ssh = dict(ssh) if ssh is not None else None
        self.wait_seconds = wait_seconds
        self.discovery = shared_discovery()
        self.faults = Faults()
        self.world = World(project, region, provision_seconds=provision_seconds, staging_seconds=staging_seconds,
                           stop_seconds=stop_seconds, delete_seconds=delete_seconds,
                           pending_seconds=pending_seconds, quick_seconds=quick_seconds,
                           ssh_backed=ssh is not None)
        self.world.faults = self.faults
        # IAM, Resource Manager and the permissions of service-account tokens (iam.py).
        self.iam = iam_api.IamWorld(project)
        self.hosts = None
        self.host_errors = []  # (instance name, message) of sshd hosts that did not come up
        self._calls, self._calls_lock = [], threading.Lock()
        self._server, self._threads, self._booting = None, [], {}
        self._stopping = threading.Event()

    # -- life cycle ------------------------------------------------------------------

    def start(self):
        if self.ssh is not None:
            from common.sshhosts import SshHosts
            self.hosts = SshHosts(self.ssh.get("authorized_keys", ""), self.ssh.get("port"),
                                  self.ssh.get("workdir"), prefix="rc-gce-hosts-", probe_address="127.79.0.1")
        self._server = Server((self.host, self.port), self, server_version="ESF")
        self.port = self._server.server_address[1]
        self.world.base_url = self.url
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="gce-emulator-http", daemon=True)
        tick = threading.Thread(target=self._tick_loop, name="gce-emulator-ticker", daemon=True)
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
            running = [i.host for i in self.world.ever if i.host is not None]
            for inst in self.world.ever:
                inst.host = None
        for host in running:
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
    def api_endpoint(self):
        """The ``api_endpoint`` for googleapiclient: the URL with /compute/v1/."""
        return self.url + "/compute/v1/"

    @property
    def ssh_port(self):
        return self.hosts.port if self.hosts is not None else None

    # -- inspection -----------------------------------------------------------------------

    def set_faults(self, config):
        self.faults.set(config)

    def calls(self):
        with self._calls_lock:
            return [dict(c) for c in self._calls]

    def reset_calls(self):
        with self._calls_lock:
            self._calls.clear()

    def state(self):
        with self.world.lock:
            out = self.world.snapshot()
        out.update(faults=self.faults.get(), host_errors=list(self.host_errors), ssh_port=self.ssh_port,
                   firewall_problems=self.firewall_problems())
        return out

    def instances(self):
        with self.world.lock:
            self.world.advance()
            return [self.world.instance_summary(i) for i in self.world.instances.values()]

    def firewalls(self):
        with self.world.lock:
            return [dict(r.resource, name=r.name) for r in self.world.firewalls.values()]

    @property
    def project_ssh_keys_ever_set(self):
        """Whether anyone ever put ``ssh-keys`` into the project's metadata."""
        with self.world.lock:
            return self.world.project_ssh_keys_set

    def firewall_problems(self, allow_world=False, closed_ports=(8265,)):
        """What is wrong with the firewall rules, as sentences: an ingress
        rule open to 0.0.0.0/0 (unless ``allow_world``), and any ingress rule
        from addresses (``sourceRanges``) that allows one of ``closed_ports``
        (the dashboard's 8265). Rules whose sources are only the cluster's
        own instances (``sourceTags``, ``sourceServiceAccounts``) are fine."""
        problems = []
        for rule in self.firewalls():
            if rule.get("direction", "INGRESS") != "INGRESS" or rule.get("disabled") or not rule.get("allowed"):
                continue
            ranges = rule.get("sourceRanges") or []
            if "0.0.0.0/0" in ranges and not allow_world:
                problems.append(f"firewall {rule['name']} admits 0.0.0.0/0")
            for port in closed_ports:
                if ranges and _allows_port(rule["allowed"], port):
                    problems.append(f"firewall {rule['name']} opens port {port} to {ranges}")
        return problems

    def assert_firewalls_safe(self, allow_world=False, closed_ports=(8265,)):
        problems = self.firewall_problems(allow_world, closed_ports)
        assert not problems, "; ".join(problems)

    def preempt(self, name, zone=None):
        """Preempts a running instance as Compute preempts a spot VM: it stops
        (TERMINATED), or is deleted when its scheduling says
        ``instanceTerminationAction: DELETE``, with a ``compute.instances.preempted``
        operation in its zone. Returns the operation's name."""
        with self.world.lock:
            self.world.advance()
            found = [i for i in self.world.instances.values() if i.name == name and zone in (None, i.zone)]
            if len(found) != 1:
                raise ValueError(f"no single instance named {name!r}" + (f" in {zone}" if zone else ""))
            inst = found[0]
            if inst.status != "RUNNING":
                raise ValueError(f"instance {name} is {inst.status}, not RUNNING")
            action = (inst.resource.get("scheduling") or {}).get("instanceTerminationAction", "STOP")
            inst.deleting = action == "DELETE"
            inst.boot_generation += 1
            self.world.set_status(inst, "STOPPING")
            op = self.world.new_operation("instances.preempted", "compute.instances.preempted",
                                          self.world.instance_link(inst), inst.id, inst.zone,
                                          ready=lambda: inst.gone or inst.status == "TERMINATED")
            op.status_message = "Instance was preempted."
            return op.name

    # -- the ticker: life cycles and sshd hosts -------------------------------------------------

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
        for entry in due:
            key = entry[0]
            if key in self._booting or self._stopping.is_set():
                continue
            thread = threading.Thread(target=self._boot, args=entry, name=f"boot-{key}", daemon=True)
            self._booting[key] = thread
            thread.start()

    @staticmethod
    def _stop_host(host):
        from common.sshhosts import SshHosts
        SshHosts.stop(host)
        server = getattr(host, "metadata_server", None)
        if server is not None:
            host.metadata_server = None
            server.stop()

    def _instance_account(self, key):
        """The instance's service account now ({"email", "scopes"}), or None."""
        with self.world.lock:
            inst = self.world.instances.get(tuple(key.split("/", 1)))
            accounts = (inst.resource.get("serviceAccounts") or []) if inst is not None else []
        if not accounts:
            return None
        return {"email": accounts[0].get("email"), "scopes": list(accounts[0].get("scopes") or [])}

    def _metadata_for(self, key, addresses):
        """The instance's metadata server on its own address, and the
        environment its machine gives every login."""
        from .metadata import MetadataServer
        server = MetadataServer(addresses[0], lambda: self._instance_account(key), self.tokens, self.iam).start()
        env = {"GCE_METADATA_HOST": server.host,
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": self.api_endpoint}
        return server, env

    def _boot(self, key, instance_id, generation, addresses, keys):
        host = None
        server = None
        try:
            try:
                server, env = self._metadata_for(key, addresses)
                host = self.hosts.start(instance_id, addresses, keys, env=env)
                host.metadata_server, server = server, None
            except (RuntimeError, OSError) as error:
                self.host_errors.append((key, str(error)))
            if server is not None:
                server.stop()
            with self.world.lock:
                took = self.world.finish_boot(key, generation, host)
                if took and host is not None:
                    inst = self.world.instances.get(tuple(key.split("/", 1)))
                    own = inst.ssh_keys(self.world.login_user) if inst is not None else keys
                    if own != keys:  # metadata changed while booting
                        self.hosts.set_keys(host, own)
            if not took and host is not None:
                self._stop_host(host)
        finally:
            self._booting.pop(key, None)

    # -- the API ---------------------------------------------------------------------------------

    def _record(self, **entry):
        entry["time"] = time.time()
        with self._calls_lock:
            self._calls.append(entry)

    def handle_api(self, http_method, path, headers, body):
        headers = {k.lower(): v for k, v in headers}
        split = urlsplit(path)
        if split.path.startswith(tuple(iam_api.SERVICES)):
            status, out = iam_api.handle(self.iam, self.tokens, http_method, split, headers, body, self._record)
            return Reply(status, out, JSON)
        if not split.path.startswith("/compute/"):
            answer = self.tokens.handle(http_method, path, headers, body)
            self._record(method="token", http_method=http_method, path=split.path, query={}, body=None,
                         status=answer[0] if answer else 404, fault=None, reason=None)
            if answer is None:
                return self._error(GceError(404, "notFound", f"The requested URL {split.path} was not found."))
            status, out_headers, out_body = answer
            out_headers = dict(out_headers or {})
            content_type = out_headers.pop("Content-Type", out_headers.pop("content-type", JSON))
            if isinstance(out_body, (dict, list)):
                out_body = json.dumps(out_body).encode()
            elif isinstance(out_body, str):
                out_body = out_body.encode()
            return Reply(status, out_body or b"", content_type, headers=out_headers.items())
        entry = {"method": None, "http_method": http_method, "path": split.path, "query": {}, "body": None}
        try:
            return self._api(http_method, split, headers, body, entry)
        except GceError as error:
            self._record(**entry, status=error.status, fault=error.fault, reason=error.reason)
            return self._error(error)
        except Exception:  # a bug in the emulator: say so loudly, as a 500 the client sees
            message = traceback.format_exc()
            sys.stderr.write(message)
            self._record(**entry, status=500, fault=None, reason="emulatorBug")
            return self._error(GceError(500, "backendError", "emulator bug: " + message))

    def _api(self, http_method, split, headers, body, entry):
        authorization = headers.get("authorization") or ""
        entry["token"] = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else None
        if not self.tokens.check(authorization):
            raise GceError(401, "authError", UNAUTHENTICATED, location="Authorization", location_type="header")
        method, params = self.discovery.route(http_method, split.path)
        entry["method"] = method.short
        latency = self.faults.latency_ms(method.short)
        if latency:
            time.sleep(latency / 1000.0)
        try:
            pairs = parse_qsl(split.query, keep_blank_values=True, strict_parsing=bool(split.query))
        except ValueError as error:
            raise GceError(400, "invalid", f"The query string cannot be parsed: {error}") from None
        query = self.discovery.check_query(method, pairs)
        entry["query"] = query
        decoded = self.discovery.check_body(method, body)
        entry["body"] = decoded
        self._check_scope(method, params)
        handler = HANDLERS.get(method.short)
        if handler is None:
            raise GceError(501, "notImplemented", f"{method.id} is not emulated")
        before, after_effect = self.faults.draw(method.short)
        if before == "drop":
            self._record(**entry, status=None, fault="drop", reason=None)
            return Reply(drop=True)
        if before is not None:
            status, reason, message = INJECTED[before]
            raise GceError(status, reason, message, fault=before)
        refusal = self.faults.sync_error(method.short)
        if refusal is not None:
            status, reason, message = refusal
            raise GceError(status, reason, message.format(target=split.path[len("/compute/v1/"):]),
                           fault="sync_error")
        api = Api(self.world, self.faults, self.wait_seconds)
        with self.world.lock:
            self.world.advance()
            self._authorize(entry, method.short, params, query, decoded or {})
            result = handler(api, params, query, decoded or {})
            for inst in api.metadata_changed:
                if inst.host is not None and self.hosts is not None:
                    self.hosts.set_keys(inst.host, inst.ssh_keys(self.world.login_user))
        self.discovery.check_response(method, result)
        out = json.dumps(result, indent=1).encode()
        if after_effect:
            self._record(**entry, status=None, fault="drop_after_effect", reason=None)
            return Reply(drop=True)
        self._record(**entry, status=200, fault=None, reason=None)
        return Reply(200, out, JSON)

    def _authorize(self, entry, method, params, query, body):
        """A service account's token may do only what its roles grant (iam.py)."""
        if self.iam.account_of(entry.get("token")) is None:
            return
        names = None
        if method == "instances.bulkInsert":
            names, _ = instances._bulk_names(self.world, params.get("zone"), body)
        checks = iam_api.compute_checks(self.project, self.region, method, params, query, body, names)
        try:
            self.iam.authorize(entry["token"], method, checks)
        except Exception as denied:
            if not hasattr(denied, "permission"):
                raise
            entry["denied_permission"] = denied.permission
            raise iam_api.compute_denied_error(denied.permission, denied.resource) from None

    def _check_scope(self, method, params):
        project = params.get("project")
        if project is not None and project != self.project and not method.short.startswith("images."):
            raise GceError(404, "notFound", f"The resource 'projects/{project}' was not found")
        zone = params.get("zone")
        if zone is not None and zone not in self.world.zones:
            raise GceError(400, "invalid", f"Invalid value for field 'zone': '{zone}'. Unknown zone.",
                           location="zone")
        region = params.get("region")
        if region is not None and region != self.region:
            raise GceError(400, "invalid", f"Invalid value for field 'region': '{region}'. Unknown region.",
                           location="region")

    @staticmethod
    def _error(error):
        return Reply(error.status, error.body(), JSON,
                     headers=[("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')]
                     if error.status == 401 else ())

    # -- control endpoints -------------------------------------------------------------------------

    def control(self, method, path, body, client_address):
        route = urlsplit(path).path
        try:
            if method == "GET" and route == "/_emulator/state":
                return Reply(200, json.dumps(self.state(), default=str).encode(), JSON)
            if method == "GET" and route == "/_emulator/calls":
                return Reply(200, json.dumps(self.calls(), default=str).encode(), JSON)
            if method == "GET" and route == "/_emulator/checkip":
                return Reply(200, f"{client_address}\n".encode(), "text/plain")
            if method == "POST" and route == "/_emulator/faults":
                self.set_faults(json.loads(body or b"{}"))
                return Reply(200, b'{"ok": true}', JSON)
            if method == "POST" and route == "/_emulator/preempt":
                request = json.loads(body or b"{}")
                name = self.preempt(request.get("instance"), request.get("zone"))
                return Reply(200, json.dumps({"operation": name}).encode(), JSON)
            if method == "POST" and route == "/_emulator/reset-calls":
                self.reset_calls()
                return Reply(200, b'{"ok": true}', JSON)
        except ValueError as error:
            return Reply(400, json.dumps({"error": str(error)}).encode(), JSON)
        return Reply(404, b'{"error": "no such control endpoint"}', JSON)


def _allows_port(allowed, port):
    for rule in allowed:
        if rule.get("IPProtocol") not in ("tcp", "all", "6"):
            continue
        ports = rule.get("ports")
        if not ports:
            return True
        for spec in ports:
            low, _, high = spec.partition("-")
            if int(low) <= port <= int(high or low):
                return True
    return False


__all__ = ["GceEmulator"]
