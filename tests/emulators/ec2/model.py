"""Checks EC2 Query parameters against botocore's EC2 service model.

A request's flat form parameters (``InstanceId.1=i-...``,
``TagSpecification.1.Tag.1.Key=...``) are decoded into the nested structure of
the operation's input shape, with member names as the model spells them (the
same dictionary a botocore client is given). Decoding follows the ec2 protocol
serialization rules:

* a structure member is addressed by its ``queryName``, else its
  ``locationName`` with the first letter upper-cased, else its member name;
* a list is ``<name>.N`` with N = 1, 2, ... (the member's own locationName is
  not used, and no ``.member.`` segment appears);
* a map is ``<name>.entry.N.key`` / ``<name>.entry.N.value`` (the EC2 model has
  no maps in its inputs today; the rule is kept for completeness);
* scalars are checked by type: integer/long, boolean (``true``/``false``),
  double/float, timestamp (ISO 8601 or epoch seconds), blob (base64), and
  strings against the model's ``enum`` where it has one.

Anything the model does not describe raises ``UnknownParameter``; a value of
the wrong type raises ``InvalidParameterValue``; a missing required member
raises ``MissingParameter``. These are the codes EC2 itself answers with.
"""
import base64
import binascii
import datetime
import functools
import re

from botocore.loaders import Loader
from botocore.model import ServiceModel

from .errors import Ec2Error

API_VERSION = "2016-11-15"

# Parameters every Query API request may carry besides the operation's input.
COMMON_PARAMETERS = {"Action", "Version"}


@functools.lru_cache(maxsize=1)
def service_model():
    """botocore's EC2 model (service-2), loaded once per process."""
    return ServiceModel(Loader().load_service_model("ec2", "service-2"), "ec2")


def operation_names():
    return set(service_model().operation_names)


def serialized_name(shape, member_name):
    """The Query name of a structure member under the ec2 protocol."""
    if "queryName" in shape.serialization:
        return shape.serialization["queryName"]
    if "name" in shape.serialization:
        name = shape.serialization["name"]
        return name[0].upper() + name[1:]
    return member_name


def _tree(params):
    """Nests flat dotted keys: {'A.1.B': 'x'} -> {'A': {'1': {'B': 'x'}}}.

    A key that is both a value and a prefix of another key is an error."""
    root = {}
    for key, value in params.items():
        parts = key.split(".")
        if any(p == "" for p in parts):
            raise Ec2Error("UnknownParameter", f"The parameter {key} is not recognized")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise Ec2Error("InvalidParameterValue",
                               f"The parameter {'.'.join(parts[:i + 1])} has both a value and members")
            node = child
        if parts[-1] in node:
            raise Ec2Error("InvalidParameterValue",
                           f"The parameter {key} has both a value and members")
        node[parts[-1]] = value
    return root


_ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _bad_value(path, value, expected):
    return Ec2Error("InvalidParameterValue",
                    f"Value ({value}) for parameter {path} is invalid. Expected {expected}.")


def _decode_scalar(shape, value, path):
    kind = shape.type_name
    if isinstance(value, dict):
        first = next(iter(value), "")
        raise Ec2Error("UnknownParameter", f"The parameter {path}.{first} is not recognized")
    if kind == "string":
        enum = shape.enum
        if enum and value not in enum:
            raise _bad_value(path, value, "one of " + ", ".join(enum[:12]) + (", ..." if len(enum) > 12 else ""))
        return value
    if kind in ("integer", "long"):
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise _bad_value(path, value, "an integer")
        number = int(value)
        if "min" in shape.metadata and number < shape.metadata["min"]:
            raise _bad_value(path, value, f"a value of at least {shape.metadata['min']}")
        if "max" in shape.metadata and number > shape.metadata["max"]:
            raise _bad_value(path, value, f"a value of at most {shape.metadata['max']}")
        return number
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise _bad_value(path, value, "true or false")
        return value.lower() == "true"
    if kind in ("double", "float"):
        try:
            return float(value)
        except ValueError:
            raise _bad_value(path, value, "a number") from None
    if kind == "timestamp":
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
        if not _ISO8601.match(value):
            raise _bad_value(path, value, "an ISO 8601 timestamp")
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad_value(path, value, "an ISO 8601 timestamp") from None
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_value(path, value, "base64-encoded data") from None
    raise Ec2Error("InvalidParameterValue", f"The parameter {path} has an unsupported type {kind}")


def _decode(shape, node, path):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(node, dict):
            raise _bad_value(path, node, "a structure")
        by_query_name = {serialized_name(m, name): name for name, m in shape.members.items()}
        result = {}
        for key, child in node.items():
            member = by_query_name.get(key)
            full = f"{path}.{key}" if path else key
            if member is None:
                raise Ec2Error("UnknownParameter", f"The parameter {full} is not recognized")
            result[member] = _decode(shape.members[member], child, full)
        for name in shape.required_members:
            if name not in result:
                full = serialized_name(shape.members[name], name)
                full = f"{path}.{full}" if path else full
                raise Ec2Error("MissingParameter", f"The request must contain the parameter {full}")
        return result
    if kind == "list":
        if not isinstance(node, dict):
            if node == "":
                return []
            raise _bad_value(path, node, "a list of members numbered from 1")
        items = []
        for index, child in node.items():
            if not re.fullmatch(r"[1-9]\d*", index):
                raise Ec2Error("UnknownParameter", f"The parameter {path}.{index} is not recognized")
            items.append((int(index), _decode(shape.member, child, f"{path}.{index}")))
        items.sort(key=lambda pair: pair[0])
        return [value for _, value in items]
    if kind == "map":
        if not isinstance(node, dict) or set(node) != {"entry"} or not isinstance(node["entry"], dict):
            raise _bad_value(path, node, "map entries")
        key_name = serialized_name(shape.key, "key")
        value_name = serialized_name(shape.value, "value")
        result = {}
        for index, entry in node["entry"].items():
            if not isinstance(entry, dict) or set(entry) - {key_name, value_name} or key_name not in entry:
                raise Ec2Error("UnknownParameter", f"The parameter {path}.entry.{index} is not recognized")
            key = _decode_scalar(shape.key, entry[key_name], f"{path}.entry.{index}.{key_name}")
            result[key] = _decode(shape.value, entry.get(value_name, ""), f"{path}.entry.{index}.{value_name}")
        return result
    return _decode_scalar(shape, node, path)


def decode_request(params):
    """Checks Action, Version and every parameter; returns (action, input dict).

    ``params`` is the flat form/query dictionary, one value per key (a repeated
    key is rejected before this is called)."""
    action = params.get("Action")
    if not action:
        raise Ec2Error("MissingAction", "The request must contain the parameter Action", status=400)
    if action not in operation_names():
        raise Ec2Error("InvalidAction", f"The action {action} is not valid for this web service.", status=400)
    version = params.get("Version")
    if version is None:
        raise Ec2Error("MissingParameter", "The request must contain the parameter Version")
    if version != API_VERSION:
        raise Ec2Error("NoSuchVersion",
                       f"The requested version ({version}) of service AmazonEC2 does not exist")
    operation = service_model().operation_model(action)
    rest = {k: v for k, v in params.items() if k not in COMMON_PARAMETERS}
    shape = operation.input_shape
    if shape is None:
        if rest:
            raise Ec2Error("UnknownParameter", f"The parameter {sorted(rest)[0]} is not recognized")
        return action, {}
    return action, _decode(shape, _tree(rest), "")
