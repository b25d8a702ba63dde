"""Requests checked against Google's own description of Compute v1.

The description is ``compute.v1.json`` from the discovery cache of the
installed ``google-api-python-client`` (pinned in requirements-dev.txt), the
same document ``googleapiclient.discovery.build`` reads. From it:

- ``route`` finds the method of (HTTP method, path) from the methods'
  ``flatPath`` templates and checks each path parameter's ``pattern``;
- ``check_query`` checks every query parameter's name, type, format, enum and
  repetition against the method's and the API's parameters;
- ``check_body`` checks a JSON body against the method's request schema:
  unknown fields, JSON types, integer formats, enums, ``byte`` fields,
  patterns of plain string fields, and fields the description marks required
  for this method (``annotations.required``);
- ``check_response`` holds the emulator's own answers to the method's
  response schema the same way.

Every failure is a ``GceError`` 400 naming the field, as Compute answers.
"""
import base64
import binascii
import json
import os
import re

from .errors import GceError

SERVICE_PATH = "/compute/v1/"
INT_RANGES = {"int32": (-2 ** 31, 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1),
              "int64": (-2 ** 63, 2 ** 63 - 1), "uint64": (0, 2 ** 64 - 1)}
MAX_DEPTH = 32


def document_path(name="compute.v1.json"):
    import googleapiclient
    return os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", name)


class Method:
    def __init__(self, description, http_method, template):
        self.id = description["id"]                     # compute.instances.insert
        self.short = self.id.split(".", 1)[1]           # instances.insert
        self.description = description
        self.http_method = http_method
        self.params = description.get("parameters", {})
        self.request = (description.get("request") or {}).get("$ref")
        names = []
        pattern = ""
        for literal, name in re.findall(r"([^{]*)(?:\{\+?(\w+)\})?", template):
            pattern += re.escape(literal)
            if name:
                names.append(name)
                pattern += "([^/]+)"
        self.regex = re.compile(pattern + "$")
        self.names = names
        self.literal_length = len(re.sub(r"\{[^}]*\}", "", template))


class Discovery:
    """The loaded description, with a route table over its methods."""

    def __init__(self, path=None, service_path=SERVICE_PATH):
        """``service_path``: where the API's paths start on the emulator
        (Compute's ``/compute/v1/``; ``/iam/`` for IAM, whose paths begin with ``v1/``)."""
        self.service_path = service_path
        with open(path or document_path()) as f:
            self.doc = json.load(f)
        self.schemas = self.doc["schemas"]
        self.global_params = self.doc.get("parameters", {})
        self.revision = self.doc.get("revision")
        self.methods = {}
        self._routes = []
        self._collect(self.doc.get("resources", {}))
        # Literal paths (instances/bulkInsert) win over templates ({instance}).
        self._routes.sort(key=lambda m: -m.literal_length)

    def _collect(self, resources):
        for resource in resources.values():
            for description in resource.get("methods", {}).values():
                method = Method(description, description["httpMethod"],
                                description.get("flatPath") or description["path"])
                self.methods[method.id] = method
                self._routes.append(method)
            self._collect(resource.get("resources", {}))

    # -- routing -----------------------------------------------------------------

    def route(self, http_method, path):
        """(Method, path parameters) for a path below the service path, or a GceError."""
        if not path.startswith(self.service_path):
            raise GceError(404, "notFound", f"The requested URL {path} was not found on this server.")
        rest = path[len(self.service_path):]
        wrong_method = None
        for method in self._routes:
            match = method.regex.match(rest)
            if not match:
                continue
            if method.http_method != http_method:
                wrong_method = wrong_method or method
                continue
            from urllib.parse import unquote
            values = {name: unquote(value) for name, value in zip(method.names, match.groups())}
            for name, value in values.items():
                self._check_path_param(method, name, value)
            return method, values
        if wrong_method is not None:
            raise GceError(405, "httpMethodNotAllowed",
                           f"The {http_method} method is not allowed on {path} ({wrong_method.id} is "
                           f"{wrong_method.http_method})")
        raise GceError(404, "notFound", f"The requested URL {path} was not found on this server.")

    @staticmethod
    def _check_path_param(method, name, value):
        spec = method.params.get(name, {})
        pattern = spec.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise GceError(400, "invalid", f"Invalid value for field '{name}': '{value}'. "
                                           f"Must be a match of regex '{pattern}'",
                           location=name)

    # -- query parameters ----------------------------------------------------------

    def check_query(self, method, pairs):
        """Decoded query parameters {name: value or [values]} for ``pairs``."""
        out = {}
        for name, value in pairs:
            spec = method.params.get(name)
            if spec is not None and spec.get("location") != "query":
                spec = None
            if spec is None:
                spec = self.global_params.get(name)
            if spec is None:
                raise GceError(400, "invalid",
                               f"Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query "
                               f"parameter. Field '{name}' could not be found in request message.",
                               location=name)
            decoded = self._scalar_query(name, value, spec)
            if spec.get("repeated"):
                out.setdefault(name, []).append(decoded)
            elif name in out:
                raise GceError(400, "invalid", f"Invalid value for field '{name}': the parameter is given "
                                               "more than once and is not repeated", location=name)
            else:
                out[name] = decoded
        for name, spec in method.params.items():
            if spec.get("location") == "query" and spec.get("required") and name not in out:
                raise GceError(400, "required", f"Required field '{name}' not specified", location=name)
        return out

    @staticmethod
    def _scalar_query(name, value, spec):
        kind = spec.get("type", "string")
        if kind == "boolean":
            if value not in ("true", "false"):
                raise GceError(400, "invalid", f"Invalid value for field '{name}': '{value}'. "
                                               "Expected 'true' or 'false'", location=name)
            return value == "true"
        if kind == "integer":
            if not re.fullmatch(r"-?[0-9]+", value):
                raise GceError(400, "invalid", f"Invalid value at '{name}' ({spec.get('format', 'int32').upper()}),"
                                               f" \"{value}\"", location=name)
            number = int(value)
            low, high = INT_RANGES.get(spec.get("format", "int32"), INT_RANGES["int64"])
            if spec.get("minimum") is not None:
                low = max(low, int(spec["minimum"]))
            if not low <= number <= high:
                raise GceError(400, "invalid", f"Invalid value for field '{name}': '{value}'. "
                                               f"Must be between {low} and {high}", location=name)
            return number
        if spec.get("enum") and value not in spec["enum"]:
            raise GceError(400, "invalid", f"Invalid value for field '{name}': '{value}'. Must be one of "
                                           f"{spec['enum']}", location=name)
        return value

    # -- bodies -------------------------------------------------------------------

    def check_body(self, method, raw):
        """The decoded JSON body (None when the method takes none)."""
        if method.request is None:
            if raw and raw.strip() and raw.strip() != b"{}":
                raise GceError(400, "invalid", f"Invalid JSON payload received. {method.id} takes no "
                                               "request body.")
            return None
        if not raw or not raw.strip():
            raise GceError(400, "required", "Required field 'resource' not specified")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise GceError(400, "parseError", f"Invalid JSON payload received. {error}") from None
        self._check_value(method, body, {"$ref": method.request}, "resource", 0)
        return body

    def check_response(self, method, answer):
        """Raises ValueError when an answer of the emulator does not fit the
        method's response schema (a bug of the emulator, not of the client)."""
        ref = (method.description.get("response") or {}).get("$ref")
        if ref is None:
            return
        try:
            self._check_value(None, answer, {"$ref": ref}, "response", 0)
        except GceError as error:
            raise ValueError(f"answer of {method.id} does not fit {ref}: {error.message}") from None

    def _fail(self, field, message, reason="invalid"):
        raise GceError(400, reason, message, location=field)

    def _check_value(self, method, value, spec, field, depth):
        if depth > MAX_DEPTH:
            self._fail(field, f"Invalid JSON payload received. Nesting deeper than {MAX_DEPTH} at '{field}'.")
        if "$ref" in spec:
            spec = self.schemas[spec["$ref"]]
        kind = spec.get("type")
        if kind == "any" or kind is None and "properties" not in spec:
            return
        if kind == "object" or kind is None:
            self._check_object(method, value, spec, field, depth)
        elif kind == "array":
            if not isinstance(value, list):
                self._fail(field, f"Invalid value at '{field}': Proto field is not repeating, cannot start list.")
            for i, item in enumerate(value):
                self._check_value(method, item, spec.get("items", {}), f"{field}[{i}]", depth + 1)
        elif kind == "string":
            self._check_string(value, spec, field)
        elif kind == "integer":
            self._check_integer(value, spec, field)
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                self._fail(field, f"Invalid value at '{field}' (TYPE_DOUBLE), {json.dumps(value)}")
            if isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    self._fail(field, f"Invalid value at '{field}' (TYPE_DOUBLE), \"{value}\"")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self._fail(field, f"Invalid value at '{field}' (TYPE_BOOL), {json.dumps(value)}")

    def _check_object(self, method, value, spec, field, depth):
        if not isinstance(value, dict):
            self._fail(field, f"Invalid value at '{field}': Starting an object on a scalar field "
                              f"(got {json.dumps(value)[:60]})")
        properties = spec.get("properties")
        extra = spec.get("additionalProperties")
        for key, item in value.items():
            child = f"{field}.{key}"
            if properties is not None and key in properties:
                if item is not None:
                    self._check_value(method, item, properties[key], child, depth + 1)
            elif extra is not None:
                if item is not None:
                    self._check_value(method, item, extra, child, depth + 1)
            else:
                self._fail(child, f"Invalid JSON payload received. Unknown name \"{key}\" at '{field}': "
                                  "Cannot find field.")
        for key, prop in (properties or {}).items():
            wanted = (prop.get("annotations") or {}).get("required", [])
            if method is not None and method.id in wanted and value.get(key) in (None, ""):
                self._fail(f"{field}.{key}", f"Required field '{field}.{key}' not specified", "required")

    def _check_string(self, value, spec, field):
        fmt = spec.get("format")
        if fmt in INT_RANGES:  # 64-bit integers travel as strings (numbers are accepted too)
            self._check_integer(value, spec, field)
            return
        if not isinstance(value, str):
            self._fail(field, f"Invalid value at '{field}' (TYPE_STRING), {json.dumps(value)[:60]}")
        if spec.get("enum") and value not in spec["enum"]:
            self._fail(field, f"Invalid value at '{field}' (TYPE_ENUM), \"{value}\"")
        if fmt == "byte":
            try:
                base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4),
                                 validate=True)
            except (binascii.Error, ValueError):
                self._fail(field, f"Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed for "
                                  f"\"{value}\"")
        pattern = spec.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            self._fail(field, f"Invalid value for field '{field}': '{value}'. Must be a match of regex "
                              f"'{pattern}'")

    def _check_integer(self, value, spec, field):
        fmt = spec.get("format", "int32")
        if isinstance(value, bool):
            self._fail(field, f"Invalid value at '{field}' ({fmt.upper()}), {json.dumps(value)}")
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            self._fail(field, f"Invalid value at '{field}' ({fmt.upper()}), {json.dumps(value)[:60]}")
        low, high = INT_RANGES.get(fmt, INT_RANGES["int64"])
        if not low <= number <= high:
            self._fail(field, f"Invalid value at '{field}' ({fmt.upper()}), {number} is out of range")
