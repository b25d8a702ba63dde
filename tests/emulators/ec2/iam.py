"""The IAM Query API (2010-05-08) beside the EC2 emulator, on the same port.

A request is IAM's when its SigV4 credential scope names service ``iam``
(signed for us-east-1, as IAM's global endpoint wants). Action, Version and
every parameter are decoded against botocore's IAM service model with the
query protocol's rules (lists as ``Name.member.N``), so a parameter the model
does not have is ``InvalidParameter``... as IAM itself would refuse it.

Emulated: roles (trust policy, description, tags), inline role policies,
instance profiles (tags, one role each), and the temporary credentials an
instance's profile role hands out through the instance's IMDS (``imds.py``).
Each action checks what IAM checks before it acts: names and documents,
``NoSuchEntity`` (404), ``EntityAlreadyExists`` (409), ``DeleteConflict``
(409: a role with policies or in a profile, a profile holding a role),
``LimitExceeded`` (409: a second role in a profile). ``AccessDenied`` (403) is
injected per action with ``IamWorld.denied``. ``profile_visible_after``
seconds after its creation, a new instance profile is refused by
RunInstances with EC2's "Invalid IAM Instance Profile name", as IAM's
eventual consistency makes real EC2 do for a few seconds.

Answers are written as IAM writes them (``<XResponse><XResult>``, policy
documents URL-encoded); the suite reads them back with a botocore client.
"""
import datetime
import functools
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from urllib.parse import quote
from xml.sax.saxutils import escape

from botocore.loaders import Loader
from botocore.model import ServiceModel

from .errors import Ec2Error
from .model import _decode_scalar, _tree
from .state import ACCOUNT_ID

API_VERSION = "2010-05-08"
NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
SIGNING_REGION = "us-east-1"
NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
POLICY_NAME_RE = re.compile(r"^[\w+=,.@-]{1,128}$")
STATUS = {"NoSuchEntity": 404, "EntityAlreadyExists": 409, "DeleteConflict": 409, "LimitExceeded": 409,
          "AccessDenied": 403, "MalformedPolicyDocument": 400, "ValidationError": 400,
          "InvalidParameter": 400, "InvalidAction": 400, "MissingParameter": 400, "NoSuchVersion": 400,
          "InvalidClientTokenId": 403, "SignatureDoesNotMatch": 403}


def iam_error(code, message):
    return Ec2Error(code, message, status=STATUS.get(code, 400))


@functools.lru_cache(maxsize=1)
def service_model():
    return ServiceModel(Loader().load_service_model("iam", "service-2"), "iam")


# -- decoding (query protocol) -----------------------------------------------------

def _decode(shape, node, path):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(node, dict):
            raise iam_error("InvalidParameter", f"{path} must be a structure")
        by_name = {m.serialization.get("name", name): name for name, m in shape.members.items()}
        out = {}
        for key, child in node.items():
            member = by_name.get(key)
            full = f"{path}.{key}" if path else key
            if member is None:
                raise iam_error("InvalidParameter", f"The parameter {full} is not recognized")
            out[member] = _decode(shape.members[member], child, full)
        for name in shape.required_members:
            if name not in out:
                raise iam_error("MissingParameter", f"The request must contain the parameter {name}")
        return out
    if kind == "list":
        if node == "":
            return []
        if not isinstance(node, dict) or set(node) != {"member"} or not isinstance(node["member"], dict):
            raise iam_error("InvalidParameter", f"{path} must be a list of {path}.member.N")
        items = []
        for index, child in node["member"].items():
            if not re.fullmatch(r"[1-9]\d*", index):
                raise iam_error("InvalidParameter", f"The parameter {path}.member.{index} is not recognized")
            items.append((int(index), _decode(shape.member, child, f"{path}.member.{index}")))
        return [value for _, value in sorted(items, key=lambda pair: pair[0])]
    try:
        value = _decode_scalar(shape, node, path)
    except Ec2Error as error:
        raise iam_error("ValidationError", error.message) from None
    if isinstance(value, str):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and len(value) < low or high is not None and len(value) > high:
            raise iam_error("ValidationError", f"{path} must be {low} to {high} characters long")
    return value


def decode_request(params):
    action = params.get("Action")
    if not action or action not in service_model().operation_names:
        raise iam_error("InvalidAction", f"Could not find operation {action} for version {API_VERSION}")
    if params.get("Version") != API_VERSION:
        raise iam_error("NoSuchVersion", f"The requested version ({params.get('Version')}) is not valid")
    rest = {k: v for k, v in params.items() if k not in ("Action", "Version")}
    shape = service_model().operation_model(action).input_shape
    if shape is None:
        if rest:
            raise iam_error("InvalidParameter", f"The parameter {sorted(rest)[0]} is not recognized")
        return action, {}
    try:
        tree = _tree(rest)
    except Ec2Error as error:
        raise iam_error("InvalidParameter", error.message) from None
    return action, _decode(shape, tree, "")


# -- the world -------------------------------------------------------------------------

def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _unique_id(prefix, name):
    return prefix + hashlib.sha1(f"{name}{time.time_ns()}".encode()).hexdigest()[:17].upper()


class Role:
    def __init__(self, name, trust, description, tags):
        self.name, self.trust, self.description, self.tags = name, trust, description, tags
        self.id = _unique_id("AROA", name)
        self.arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        self.created = _now()
        self.policies = {}  # name -> document text


class Profile:
    def __init__(self, name, tags, visible_at):
        self.name, self.tags, self.visible_at = name, tags, visible_at
        self.id = _unique_id("AIPA", name)
        self.arn = f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{name}"
        self.created = _now()
        self.roles = []  # role names (at most one)


class Session:
    """Temporary credentials of a role, handed to one instance."""

    def __init__(self, role, instance_id, lifetime):
        self.role, self.instance_id = role, instance_id
        self.access_key = "ASIA" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.token = secrets.token_urlsafe(60)
        self.issued = _now()
        self.expiration = self.issued + datetime.timedelta(seconds=lifetime)


class IamWorld:
    """Roles, profiles and role sessions; ``lock`` guards them all."""

    def __init__(self, session_seconds=6 * 3600):
        self.lock = threading.RLock()
        self.roles = {}
        self.profiles = {}
        self.sessions = {}  # access key -> Session
        self.denied = set()  # IAM actions answered AccessDenied
        self.profile_visible_after = 0.0
        self.session_seconds = session_seconds

    # what EC2 and IMDS ask

    def profile_for_launch(self, name_or_arn):
        """The profile RunInstances may use now, else the EC2 error."""
        with self.lock:
            name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
            profile = self.profiles.get(name)
            if profile is None or time.time() < profile.visible_at:
                field = "arn" if name_or_arn.startswith("arn:") else "name"
                raise Ec2Error("InvalidParameterValue",
                               f"Value ({name_or_arn}) for parameter iamInstanceProfile.{field} is invalid. "
                               f"Invalid IAM Instance Profile {field}")
            return profile

    def instance_credentials(self, instance_id, profile_arn):
        """(role name, Session) of an instance's profile, rotated 5 minutes
        before expiry as EC2 does; None without a profile or role."""
        with self.lock:
            profile = self.profiles.get(profile_arn.rsplit("/", 1)[-1]) if profile_arn else None
            if profile is None or not profile.roles or profile.roles[0] not in self.roles:
                return None
            role = profile.roles[0]
            now = _now()
            current = [s for s in self.sessions.values() if s.instance_id == instance_id and s.role == role
                       and s.expiration - now > datetime.timedelta(minutes=5)]
            if current:
                return role, current[-1]
            session = Session(role, instance_id, self.session_seconds)
            self.sessions[session.access_key] = session
            return role, session

    def session(self, access_key):
        with self.lock:
            return self.sessions.get(access_key)

    def policies_of(self, role):
        with self.lock:
            r = self.roles.get(role)
            return list(r.policies.values()) if r else []

    def summary(self):
        with self.lock:
            return {"roles": [{"name": r.name, "tags": dict(r.tags), "policies": dict(r.policies),
                               "trust": r.trust} for r in self.roles.values()],
                    "instance_profiles": [{"name": p.name, "tags": dict(p.tags), "roles": list(p.roles)}
                                          for p in self.profiles.values()]}

    # the actions

    def _role(self, name):
        role = self.roles.get(name)
        if role is None:
            raise iam_error("NoSuchEntity", f"The role with name {name} cannot be found.")
        return role

    def _profile(self, name):
        profile = self.profiles.get(name)
        if profile is None:
            raise iam_error("NoSuchEntity", f"Instance Profile {name} cannot be found.")
        return profile

    def handle(self, action, p):
        if action in self.denied:
            raise iam_error("AccessDenied", f"User: arn:aws:iam::{ACCOUNT_ID}:user/emulator is not authorized "
                                            f"to perform: iam:{action}")
        handler = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower(), None)
        if handler is None:
            raise iam_error("InvalidAction", f"The action {action} is not emulated")
        with self.lock:
            return handler(p)

    def _create_role(self, p):
        name = p["RoleName"]
        if not NAME_RE.match(name):
            raise iam_error("ValidationError", f"RoleName {name} is not valid")
        if name in self.roles:
            raise iam_error("EntityAlreadyExists", f"Role with name {name} already exists.")
        trust = _policy(p["AssumeRolePolicyDocument"])
        role = Role(name, trust, p.get("Description", ""), _tags(p.get("Tags")))
        self.roles[name] = role
        return "<Role>" + _role_xml(role) + "</Role>"

    def _get_role(self, p):
        return "<Role>" + _role_xml(self._role(p["RoleName"])) + "</Role>"

    def _delete_role(self, p):
        role = self._role(p["RoleName"])
        if role.policies:
            raise iam_error("DeleteConflict", "Cannot delete entity, must delete policies first.")
        if any(role.name in prof.roles for prof in self.profiles.values()):
            raise iam_error("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
        del self.roles[role.name]
        return ""

    def _put_role_policy(self, p):
        role = self._role(p["RoleName"])
        if not POLICY_NAME_RE.match(p["PolicyName"]):
            raise iam_error("ValidationError", f"PolicyName {p['PolicyName']} is not valid")
        role.policies[p["PolicyName"]] = _policy(p["PolicyDocument"])
        return ""

    def _get_role_policy(self, p):
        role = self._role(p["RoleName"])
        doc = role.policies.get(p["PolicyName"])
        if doc is None:
            raise iam_error("NoSuchEntity", f"The role policy with name {p['PolicyName']} cannot be found.")
        return (f"<RoleName>{escape(role.name)}</RoleName><PolicyName>{escape(p['PolicyName'])}</PolicyName>"
                f"<PolicyDocument>{escape(quote(doc, safe=''))}</PolicyDocument>")

    def _delete_role_policy(self, p):
        role = self._role(p["RoleName"])
        if role.policies.pop(p["PolicyName"], None) is None:
            raise iam_error("NoSuchEntity", f"The role policy with name {p['PolicyName']} cannot be found.")
        return ""

    def _list_role_policies(self, p):
        role = self._role(p["RoleName"])
        names = "".join(f"<member>{escape(n)}</member>" for n in sorted(role.policies))
        return f"<PolicyNames>{names}</PolicyNames><IsTruncated>false</IsTruncated>"

    def _create_instance_profile(self, p):
        name = p["InstanceProfileName"]
        if not NAME_RE.match(name):
            raise iam_error("ValidationError", f"InstanceProfileName {name} is not valid")
        if name in self.profiles:
            raise iam_error("EntityAlreadyExists", f"Instance Profile {name} already exists.")
        profile = Profile(name, _tags(p.get("Tags")), time.time() + self.profile_visible_after)
        self.profiles[name] = profile
        return "<InstanceProfile>" + self._profile_xml(profile) + "</InstanceProfile>"

    def _get_instance_profile(self, p):
        return "<InstanceProfile>" + self._profile_xml(self._profile(p["InstanceProfileName"])) + \
            "</InstanceProfile>"

    def _delete_instance_profile(self, p):
        profile = self._profile(p["InstanceProfileName"])
        if profile.roles:
            raise iam_error("DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
        del self.profiles[profile.name]
        return ""

    def _add_role_to_instance_profile(self, p):
        profile = self._profile(p["InstanceProfileName"])
        role = self._role(p["RoleName"])
        if role.name in profile.roles:
            raise iam_error("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
        if profile.roles:
            raise iam_error("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
        profile.roles.append(role.name)
        return ""

    def _remove_role_from_instance_profile(self, p):
        profile = self._profile(p["InstanceProfileName"])
        if p["RoleName"] not in profile.roles:
            raise iam_error("NoSuchEntity", f"The role with name {p['RoleName']} cannot be found.")
        profile.roles.remove(p["RoleName"])
        return ""

    def _profile_xml(self, profile):
        roles = "".join("<member>" + _role_xml(self.roles[r]) + "</member>" for r in profile.roles if r in self.roles)
        return (f"<Path>/</Path><InstanceProfileName>{escape(profile.name)}</InstanceProfileName>"
                f"<InstanceProfileId>{profile.id}</InstanceProfileId><Arn>{escape(profile.arn)}</Arn>"
                f"<CreateDate>{_iso(profile.created)}</CreateDate><Roles>{roles}</Roles>"
                f"{_tags_xml(profile.tags)}")


def _policy(text):
    try:
        doc = json.loads(text)
    except ValueError:
        raise iam_error("MalformedPolicyDocument", "This policy contains invalid Json") from None
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise iam_error("MalformedPolicyDocument", "Policy document must contain a Statement")
    for statement in doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]:
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise iam_error("MalformedPolicyDocument", "Each statement needs Effect Allow or Deny")
    return text


def _tags(items):
    tags = {}
    for item in items or []:
        if item["Key"].lower().startswith("aws:"):
            raise iam_error("InvalidParameter", "Tag keys starting with 'aws:' are reserved")
        tags[item["Key"]] = item.get("Value", "")
    if len(tags) > 50:
        raise iam_error("LimitExceeded", "The number of tags has reached the maximum limit.")
    return tags


def _tags_xml(tags):
    if not tags:
        return ""
    members = "".join(f"<member><Key>{escape(k)}</Key><Value>{escape(v)}</Value></member>"
                      for k, v in sorted(tags.items()))
    return f"<Tags>{members}</Tags>"


def _role_xml(role):
    return (f"<Path>/</Path><RoleName>{escape(role.name)}</RoleName><RoleId>{role.id}</RoleId>"
            f"<Arn>{escape(role.arn)}</Arn><CreateDate>{_iso(role.created)}</CreateDate>"
            f"<AssumeRolePolicyDocument>{escape(quote(role.trust, safe=''))}</AssumeRolePolicyDocument>"
            + (f"<Description>{escape(role.description)}</Description>" if role.description else "")
            + f"<MaxSessionDuration>3600</MaxSessionDuration>{_tags_xml(role.tags)}")


def response_xml(action, inner, request_id):
    result = f"<{action}Result>{inner}</{action}Result>" if inner else ""
    return (f'<{action}Response xmlns="{NAMESPACE}">{result}<ResponseMetadata><RequestId>{request_id}'
            f"</RequestId></ResponseMetadata></{action}Response>").encode()


def error_xml(code, message, request_id):
    kind = "Receiver" if STATUS.get(code, 400) >= 500 else "Sender"
    return (f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            f"</ErrorResponse>").encode()


def new_request_id():
    return str(uuid.uuid4())
