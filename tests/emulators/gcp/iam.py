"""IAM v1 and Cloud Resource Manager v1 on loopback, and the permission check
of every Compute call made with a service account's token.

Served beside Compute by ``GceEmulator``: IAM under ``/iam/`` (so
``CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM=<url>/iam/``) and Resource Manager under
``/cloudresourcemanager/``. Each request is checked against ``iam.v1.json``
and ``cloudresourcemanager.v1.json`` from the discovery cache of the pinned
google-api-python-client, as Compute's are, and answered in the shape of
Google's newer APIs: ``{"error": {"code", "message", "status", "details"}}``.

What it does:

- service accounts (``projects.serviceAccounts.create/get/delete``): a
  deleted account's bindings stay in the policy as
  ``deleted:serviceAccount:EMAIL?uid=N``, as Google keeps them;
- custom roles (``projects.roles.create/get/patch/delete/undelete``): a
  deleted role is kept, marked ``deleted``, grants nothing, can be undeleted,
  and its id cannot be used by ``create`` again (Google: 7 days kept, the id
  blocked for 37);
- the project's policy (``projects.getIamPolicy/setIamPolicy``): etag checked
  (409 ABORTED on a stale one), conditions only with policy version 3, members
  and custom roles must exist; ``requestedPolicyVersion`` below 3 gets
  conditional bindings without their conditions, the role marked
  ``_withcond_``, as Google answers;
- ``races``: that many setIamPolicy calls find the policy changed by
  another writer since it was read (409, as a concurrent change answers);
- ``deny``: method ids (``iam.projects.serviceAccounts.create``, ...) answered
  403 PERMISSION_DENIED for the caller's (non service account) token;
- permissions: a token the metadata server issued (``issue_token``) acts as
  its service account; its roles come from the policy, each binding's
  condition evaluated (``cel``) against the resource of the call. Compute
  calls and IAM calls without the permission are refused 403 in Google's
  shape, and every decision is recorded (``decisions``).
"""
import base64
import hashlib
import itertools
import json
import re
import secrets
import threading
import time

from .discovery import Discovery, document_path
from .errors import GceError

RPC = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
       409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 500: "INTERNAL", 501: "UNIMPLEMENTED"}
INSTANCE = "compute.googleapis.com/Instance"
DISK = "compute.googleapis.com/Disk"
IMAGE = "compute.googleapis.com/Image"
SUBNETWORK = "compute.googleapis.com/Subnetwork"
FIREWALL = "compute.googleapis.com/Firewall"
PROJECT = "cloudresourcemanager.googleapis.com/Project"
SERVICE_ACCOUNT = "iam.googleapis.com/ServiceAccount"
ROLE = "iam.googleapis.com/Role"

# The permission each IAM and Resource Manager method checks (Google's
# reference pages, "IAM Permissions").
API_PERMISSIONS = {
    "iam.projects.serviceAccounts.create": "iam.serviceAccounts.create",
    "iam.projects.serviceAccounts.get": "iam.serviceAccounts.get",
    "iam.projects.serviceAccounts.delete": "iam.serviceAccounts.delete",
    "iam.projects.roles.create": "iam.roles.create",
    "iam.projects.roles.get": "iam.roles.get",
    "iam.projects.roles.patch": "iam.roles.update",
    "iam.projects.roles.delete": "iam.roles.delete",
    "iam.projects.roles.undelete": "iam.roles.undelete",
    "cloudresourcemanager.projects.getIamPolicy": "resourcemanager.projects.getIamPolicy",
    "cloudresourcemanager.projects.setIamPolicy": "resourcemanager.projects.setIamPolicy",
}


class RpcError(Exception):
    def __init__(self, status, message, reason=None, permission=None, domain="iam.googleapis.com"):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason
        self.permission, self.domain = permission, domain

    def body(self):
        error = {"code": self.status, "message": self.message, "status": RPC.get(self.status, "UNKNOWN")}
        if self.reason:
            info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": self.reason,
                    "domain": self.domain}
            if self.permission:
                info["metadata"] = {"permission": self.permission}
            error["details"] = [info]
        return json.dumps({"error": error}, indent=2).encode()


# -- a small CEL: what IAM conditions on resource attributes are written in ------------------

_TOKEN = re.compile(r'\s*(?:(\|\||&&|==|!=|[()!.,])|"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*))')


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse the condition at {text[pos:pos + 20]!r}")
        op, string, ident = m.groups()
        out.append(("op", op) if op else ("str", re.sub(r"\\(.)", r"\1", string)) if string is not None
                   else ("id", ident))
        pos = m.end()
    return out


def cel(expression, resource):
    """Evaluates the CEL subset of resource conditions: ``||``, ``&&``, ``!``,
    parentheses, ``resource.type``/``resource.name`` compared with ``==``/``!=``
    to a string, and ``resource.name.startsWith(s)``/``endsWith(s)``.
    ``resource``: {"type": ..., "name": ...}. Raises ValueError for anything else."""
    toks = _tokens(expression)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else (None, None)

    def take(kind=None, value=None):
        tok = peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise ValueError(f"condition {expression!r}: expected {value or kind} at token {pos[0]}")
        pos[0] += 1
        return tok[1]

    def orexpr():
        value = andexpr()
        while peek() == ("op", "||"):
            take()
            right = andexpr()
            value = value or right
        return value

    def andexpr():
        value = unary()
        while peek() == ("op", "&&"):
            take()
            right = unary()
            value = value and right
        return value

    def unary():
        if peek() == ("op", "!"):
            take()
            return not unary()
        if peek() == ("op", "("):
            take()
            value = orexpr()
            take("op", ")")
            return value
        return term()

    def term():
        if take("id") != "resource":
            raise ValueError(f"condition {expression!r}: only resource attributes are emulated")
        take("op", ".")
        attribute = take("id")
        if attribute not in ("type", "name"):
            raise ValueError(f"condition {expression!r}: resource.{attribute} is not emulated")
        subject = resource.get(attribute, "")
        if peek() == ("op", "."):
            take()
            function = take("id")
            take("op", "(")
            arg = take("str")
            take("op", ")")
            if function == "startsWith":
                return subject.startswith(arg)
            if function == "endsWith":
                return subject.endswith(arg)
            raise ValueError(f"condition {expression!r}: {function} is not emulated")
        op = take("op")
        arg = take("str")
        if op == "==":
            return subject == arg
        if op == "!=":
            return subject != arg
        raise ValueError(f"condition {expression!r}: operator {op} is not emulated")

    value = orexpr()
    if pos[0] != len(toks):
        raise ValueError(f"condition {expression!r}: unexpected text after token {pos[0]}")
    return bool(value)


# -- the permissions of Compute's methods ----------------------------------------------------

def compute_checks(project, region, method, params, query, body, bulk_names=None):
    """[(permission, resource)] that a Compute call needs, from Google's
    reference pages ("IAM Permissions" of each method, and of the fields of
    instances.insert: disks, images, subnetworks, metadata, tags, labels,
    service accounts). ``resource``: {"type", "name"}."""
    zone = params.get("zone")
    project_res = {"type": PROJECT, "name": f"projects/{project}"}

    def inst(name):
        return {"type": INSTANCE, "name": f"projects/{project}/zones/{zone}/instances/{name}"}

    verb = method.split(".", 1)[1] if "." in method else method
    if method.startswith("instances."):
        if verb in ("list", "aggregatedList"):
            return [("compute.instances.list", project_res)]
        if verb in ("insert", "bulkInsert"):
            props = body.get("instanceProperties", body) if verb == "bulkInsert" else body
            names = bulk_names if verb == "bulkInsert" else [body.get("name", "")]
            return [c for n in names for c in _create_checks(project, region, zone, n, props)]
        perms = {"get": "compute.instances.get", "delete": "compute.instances.delete",
                 "stop": "compute.instances.stop", "start": "compute.instances.start",
                 "setLabels": "compute.instances.setLabels", "setMetadata": "compute.instances.setMetadata"}
        return [(perms.get(verb, "compute.instances." + verb), inst(params.get("instance")))]
    if method.startswith(("zoneOperations.", "globalOperations.", "regionOperations.")):
        kind = method.split(".")[0]
        return [(f"compute.{kind}.{'list' if verb == 'list' else 'get' if verb in ('get', 'wait') else verb}",
                 project_res)]
    if method.startswith("firewalls."):
        perm = {"insert": "create", "patch": "update", "update": "update"}.get(verb, verb)
        if verb == "list":
            return [("compute.firewalls.list", project_res)]
        name = params.get("firewall") or body.get("name", "")
        return [(f"compute.firewalls.{perm}", {"type": FIREWALL,
                                              "name": f"projects/{project}/global/firewalls/{name}"})]
    if method == "projects.setCommonInstanceMetadata":
        return [("compute.projects.setCommonInstanceMetadata", project_res)]
    kind = method.split(".")[0]
    return [(f"compute.{kind}.{verb}", project_res)]


def _create_checks(project, region, zone, name, props):
    base = f"projects/{project}/zones/{zone}"
    out = [("compute.instances.create", {"type": INSTANCE, "name": f"{base}/instances/{name}"})]
    for disk in props.get("disks") or []:
        init = disk.get("initializeParams")
        if init is None:
            continue
        out.append(("compute.disks.create",
                    {"type": DISK, "name": f"{base}/disks/{init.get('diskName') or name}"}))
        image = init.get("sourceImage")
        if image:
            image_project = image.split("projects/", 1)[1].split("/")[0] if "projects/" in image else project
            out.append(("compute.images.useReadOnly", {"type": IMAGE, "name": f"projects/{image_project}/global/"
                                                       f"images/{image.rsplit('/', 1)[-1]}"}))
    for nic in props.get("networkInterfaces") or []:
        sub = nic.get("subnetwork") or f"regions/{region}/subnetworks/default"
        sub_name = f"projects/{project}/regions/{region}/subnetworks/{sub.rsplit('/', 1)[-1]}"
        out.append(("compute.subnetworks.use", {"type": SUBNETWORK, "name": sub_name}))
        if nic.get("accessConfigs"):
            out.append(("compute.subnetworks.useExternalIp", {"type": SUBNETWORK, "name": sub_name}))
    target = {"type": INSTANCE, "name": f"{base}/instances/{name}"}
    if (props.get("metadata") or {}).get("items"):
        out.append(("compute.instances.setMetadata", target))
    if (props.get("tags") or {}).get("items"):
        out.append(("compute.instances.setTags", target))
    if props.get("labels"):
        out.append(("compute.instances.setLabels", target))
    for sa in props.get("serviceAccounts") or []:
        out.append(("compute.instances.setServiceAccount", target))
        out.append(("iam.serviceAccounts.actAs", {"type": SERVICE_ACCOUNT,
                                                  "name": f"projects/{project}/serviceAccounts/{sa.get('email')}"}))
    return out


# -- the world -------------------------------------------------------------------------------

class IamWorld:
    """Service accounts, custom roles and the project's policy of one project."""

    def __init__(self, project):
        self.project = project
        self.lock = threading.RLock()
        self.accounts = {}       # email -> ServiceAccount resource
        self.account_ever = []   # every account created (email, uniqueId)
        self.roles = {}          # role name -> Role resource (with "deleted")
        self.policy = {"version": 1, "bindings": [
            {"role": "roles/owner", "members": ["user:owner@example.com"]}]}
        self._etag()
        self.deny = set()        # method ids answered 403 to the caller's own token
        self.races = 0           # setIamPolicy calls that lose to a concurrent change (409)
        self.tokens = {}         # token -> service account email (metadata-issued)
        self.decisions = []      # {email, method, permission, resource, allowed}
        self._uid = itertools.count(100000000000000000001)

    def _etag(self):
        self.policy["etag"] = base64.b64encode(secrets.token_bytes(8)).decode()

    # -- tokens and permissions --

    def issue_token(self, email):
        token = "ya29.md-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = email
        return token

    def account_of(self, token):
        with self.lock:
            return self.tokens.get(token)

    def granted(self, email, permission, resource):
        """(allowed, why) for `email` holding `permission` on `resource`."""
        member = f"serviceAccount:{email}"
        with self.lock:
            if email not in self.accounts or self.accounts[email].get("disabled"):
                return False, "no such enabled service account"
            for binding in self.policy.get("bindings", []):
                if member not in binding.get("members", []):
                    continue
                role = self.roles.get(binding["role"])
                if role is None or role.get("deleted") or permission not in role.get("includedPermissions", []):
                    continue
                condition = binding.get("condition")
                if condition is None or cel(condition["expression"], resource):
                    return True, binding["role"]
        return False, "no binding grants it"

    def authorize(self, token, method, checks):
        """Raises a 403 unless the token's account holds every permission of
        ``checks``; records each decision. Tokens that are not a service
        account's are the caller's own and pass (``deny`` aside)."""
        email = self.account_of(token)
        if email is None:
            return
        for permission, resource in checks:
            allowed, why = self.granted(email, permission, resource)
            with self.lock:
                self.decisions.append({"email": email, "method": method, "permission": permission,
                                       "resource": resource["name"], "allowed": allowed, "why": why,
                                       "time": time.time()})
            if not allowed:
                raise _Denied(permission, resource["name"])

    # -- IAM --

    def _account_path(self, params):
        key = params["serviceAccountsId"]
        found = self.accounts.get(key) or next((a for a in self.accounts.values() if a["uniqueId"] == key), None)
        if found is None:
            raise RpcError(404, "Unknown service account")
        return found

    def sa_create(self, params, query, body):
        account_id = body.get("accountId", "")
        if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])", account_id) or not 6 <= len(account_id) <= 30:
            raise RpcError(400, f"Invalid accountId: {account_id!r} must be 6-30 characters of "
                                "[a-z]([-a-z0-9]*[a-z0-9])")
        email = f"{account_id}@{self.project}.iam.gserviceaccount.com"
        if email in self.accounts:
            raise RpcError(409, f"Service account {account_id} already exists within project "
                                f"projects/{self.project}.")
        given = body.get("serviceAccount") or {}
        uid = str(next(self._uid))
        account = {"name": f"projects/{self.project}/serviceAccounts/{email}", "projectId": self.project,
                   "uniqueId": uid, "email": email, "displayName": given.get("displayName", ""),
                   "description": given.get("description", ""), "etag": "MDEwMjE5MjA=",
                   "oauth2ClientId": uid}
        self.accounts[email] = account
        self.account_ever.append({"email": email, "uniqueId": uid})
        return dict(account)

    def sa_get(self, params, query, body):
        return dict(self._account_path(params))

    def sa_delete(self, params, query, body):
        account = self._account_path(params)
        del self.accounts[account["email"]]
        member = f"serviceAccount:{account['email']}"
        for binding in self.policy.get("bindings", []):
            binding["members"] = [f"deleted:{m}?uid={account['uniqueId']}" if m == member else m
                                  for m in binding.get("members", [])]
        return {}

    def _role_name(self, params):
        return f"projects/{self.project}/roles/{params['rolesId']}"

    def _role(self, params):
        role = self.roles.get(self._role_name(params))
        if role is None:
            raise RpcError(404, f"The role named {self._role_name(params)} was not found.")
        return role

    def role_create(self, params, query, body):
        role_id = body.get("roleId", "")
        if not re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", role_id):
            raise RpcError(400, f"The role id {role_id!r} is invalid: 3-64 of [a-zA-Z0-9_.]")
        name = f"projects/{self.project}/roles/{role_id}"
        if name in self.roles:
            why = (" It was deleted: a deleted role's id cannot be used again for 37 days; undelete it."
                   if self.roles[name].get("deleted") else "")
            raise RpcError(409, f"A role named {role_id} in projects/{self.project} already exists.{why}")
        given = body.get("role") or {}
        self._check_permissions(given.get("includedPermissions", []))
        role = {"name": name, "title": given.get("title", ""), "description": given.get("description", ""),
                "includedPermissions": sorted(given.get("includedPermissions", [])),
                "stage": given.get("stage", "ALPHA"), "etag": self._role_etag()}
        self.roles[name] = role
        return dict(role)

    @staticmethod
    def _role_etag():
        return base64.b64encode(secrets.token_bytes(8)).decode()

    @staticmethod
    def _check_permissions(perms):
        for p in perms:
            if not re.fullmatch(r"[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+", p):
                raise RpcError(400, f"Permission {p} is not valid.")

    def role_get(self, params, query, body):
        return dict(self._role(params))

    def role_patch(self, params, query, body):
        role = self._role(params)
        if role.get("deleted"):
            raise RpcError(400, f"You can't update a deleted role: {role['name']}")
        if body.get("etag") and body["etag"] != role["etag"]:
            raise RpcError(409, "The etag in the request does not match the role's: the role changed "
                                "meanwhile.")
        mask = [m.strip() for m in (query.get("updateMask") or "").split(",") if m.strip()]
        for field in mask or ["title", "description", "includedPermissions", "stage"]:
            if field not in ("title", "description", "includedPermissions", "stage"):
                raise RpcError(400, f"updateMask names {field!r}, which cannot be updated")
            if field in body:
                if field == "includedPermissions":
                    self._check_permissions(body[field])
                    role[field] = sorted(body[field])
                else:
                    role[field] = body[field]
        role["etag"] = self._role_etag()
        return dict(role)

    def role_delete(self, params, query, body):
        role = self._role(params)
        role["deleted"] = True
        role["etag"] = self._role_etag()
        return dict(role)

    def role_undelete(self, params, query, body):
        role = self._role(params)
        if not role.get("deleted"):
            raise RpcError(400, f"The role {role['name']} is not deleted.")
        role.pop("deleted", None)
        role["etag"] = self._role_etag()
        return dict(role)

    # -- Resource Manager --

    def get_policy(self, params, query, body):
        self._check_project(params)
        wanted = ((body or {}).get("options") or {}).get("requestedPolicyVersion", 1)
        policy = json.loads(json.dumps(self.policy))
        if wanted < 3 and any("condition" in b for b in policy["bindings"]):
            for b in policy["bindings"]:
                if b.pop("condition", None) is not None:
                    b["role"] += "_withcond_" + hashlib.sha1(b["role"].encode()).hexdigest()[:20]
            policy["version"] = 1
        return policy

    def set_policy(self, params, query, body):
        self._check_project(params)
        policy = (body or {}).get("policy") or {}
        if self.races > 0:  # another writer changed the policy since it was read
            self.races -= 1
            self._etag()
        if policy.get("etag") and policy["etag"] != self.policy["etag"]:
            raise RpcError(409, "There were concurrent policy changes. Please retry the whole "
                                "read-modify-write with exponential backoff.", reason=None)
        conditional = any("condition" in b for b in policy.get("bindings", []))
        if conditional and policy.get("version", 1) < 3:
            raise RpcError(400, "Invalid IAM policy: a policy with conditions must be version 3.")
        for b in policy.get("bindings", []):
            role = b.get("role", "")
            if role.startswith("projects/"):
                found = self.roles.get(role)
                if found is None or found.get("deleted"):
                    raise RpcError(400, f"Role {role} is not supported for this resource.")
            if "condition" in b:
                try:
                    cel(b["condition"].get("expression", ""), {"type": PROJECT, "name": ""})
                except ValueError as error:
                    raise RpcError(400, f"Invalid condition: {error}") from None
            for m in b.get("members", []):
                if m.startswith("serviceAccount:") and m.split(":", 1)[1] not in self.accounts:
                    raise RpcError(400, f"Service account {m.split(':', 1)[1]} does not exist.")
        self.policy = {"version": policy.get("version", 1),
                       "bindings": [b for b in policy.get("bindings", []) if b.get("members")]}
        self._etag()
        return json.loads(json.dumps(self.policy))

    def _check_project(self, params):
        if params.get("resource") != self.project:
            raise RpcError(403, f"The caller does not have permission", reason="IAM_PERMISSION_DENIED")

    # -- what a leak check reads --

    def snapshot(self):
        with self.lock:
            return {"accounts": sorted(self.accounts), "roles": json.loads(json.dumps(self.roles)),
                    "policy": json.loads(json.dumps(self.policy)), "decisions": list(self.decisions)}

    def live_roles(self):
        with self.lock:
            return sorted(n for n, r in self.roles.items() if not r.get("deleted"))

    def bindings_of(self, member_part):
        with self.lock:
            return [b for b in self.policy.get("bindings", [])
                    if any(member_part in m for m in b.get("members", []))]


class _Denied(Exception):
    def __init__(self, permission, resource):
        super().__init__(permission)
        self.permission, self.resource = permission, resource


HANDLERS = {
    "iam.projects.serviceAccounts.create": IamWorld.sa_create,
    "iam.projects.serviceAccounts.get": IamWorld.sa_get,
    "iam.projects.serviceAccounts.delete": IamWorld.sa_delete,
    "iam.projects.roles.create": IamWorld.role_create,
    "iam.projects.roles.get": IamWorld.role_get,
    "iam.projects.roles.patch": IamWorld.role_patch,
    "iam.projects.roles.delete": IamWorld.role_delete,
    "iam.projects.roles.undelete": IamWorld.role_undelete,
    "cloudresourcemanager.projects.getIamPolicy": IamWorld.get_policy,
    "cloudresourcemanager.projects.setIamPolicy": IamWorld.set_policy,
}
SERVICES = {"/iam/": "iam.v1.json", "/cloudresourcemanager/": "cloudresourcemanager.v1.json"}
_DISCOVERIES = {}
_DISCOVERIES_LOCK = threading.Lock()


def discovery(prefix):
    with _DISCOVERIES_LOCK:
        if prefix not in _DISCOVERIES:
            _DISCOVERIES[prefix] = Discovery(document_path(SERVICES[prefix]), service_path=prefix)
        return _DISCOVERIES[prefix]


def handle(world, tokens, http_method, split, headers, body, record):
    """One IAM or Resource Manager request: (status, body bytes)."""
    prefix = next(p for p in SERVICES if split.path.startswith(p))
    entry = {"method": None, "http_method": http_method, "path": split.path, "query": {}, "body": None,
             "api": prefix.strip("/")}
    authorization = headers.get("authorization") or ""
    entry["token"] = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else None
    try:
        if not tokens.check(authorization):
            raise RpcError(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                "token, login cookie or other valid authentication credential.")
        d = discovery(prefix)
        from urllib.parse import parse_qsl
        try:
            method, params = d.route(http_method, split.path)
            entry["method"] = method.id
            query = d.check_query(method, parse_qsl(split.query, keep_blank_values=True))
            decoded = d.check_body(method, body)
        except GceError as error:
            raise RpcError(error.status, error.message) from None
        entry["query"], entry["body"] = query, decoded
        permission = API_PERMISSIONS.get(method.id)
        email = world.account_of(entry["token"])
        if email is not None and permission is not None:
            try:
                world.authorize(entry["token"], method.id,
                                [(permission, {"type": PROJECT, "name": f"projects/{world.project}"})])
            except _Denied as denied:
                raise RpcError(403, f"Permission '{denied.permission}' denied on resource (or it may not "
                                    "exist).", reason="IAM_PERMISSION_DENIED",
                               permission=denied.permission) from None
        elif method.id in world.deny:
            raise RpcError(403, f"Permission '{permission}' denied on resource (or it may not exist).",
                           reason="IAM_PERMISSION_DENIED", permission=permission)
        handler = HANDLERS.get(method.id)
        if handler is None:
            raise RpcError(501, f"{method.id} is not emulated")
        if params.get("projectsId") not in (None, world.project):
            raise RpcError(404, f"Project {params.get('projectsId')} not found.")
        with world.lock:
            result = handler(world, params, query, decoded or {})
        d.check_response(method, result)
        record(**entry, status=200, fault=None, reason=None)
        return 200, json.dumps(result, indent=1).encode()
    except RpcError as error:
        record(**entry, status=error.status, fault="denied" if error.reason == "IAM_PERMISSION_DENIED" else None,
               reason=RPC.get(error.status))
        return error.status, error.body()


def compute_denied_error(permission, resource):
    """Compute's 403 for a missing permission."""
    return GceError(403, "forbidden", f"Required '{permission}' permission for '{resource}'")


__all__ = ["IamWorld", "cel", "compute_checks", "handle", "compute_denied_error"]
