"""Pieces the method handlers share: the registry, resource links, label and
metadata rules, requestId checks, and list paging and filtering."""
import base64
import json
import re
import uuid

from . import filters
from .errors import GceError, invalid, not_found

HANDLERS = {}
NAME_PATTERN = r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
LABEL_KEY = re.compile(r"[\w\-]{0,63}", re.UNICODE)
MAX_RESULTS = 500


def method(name):
    """Registers the decorated function as the handler of ``name``
    (``instances.insert``). A handler takes (api, path params, query, body) and
    returns the JSON answer as a dict."""
    def register(fn):
        HANDLERS[name] = fn
        return fn
    return register


# -- links ---------------------------------------------------------------------

def relative(value, base_url=""):
    """``projects/p/zones/z/...`` or ``zones/z/...`` of a full or partial link."""
    value = value or ""
    for prefix in [base_url + "/compute/v1/", "https://www.googleapis.com/compute/v1/",
                   "https://compute.googleapis.com/compute/v1/", "http://www.googleapis.com/compute/v1/"]:
        if prefix and value.startswith(prefix):
            return value[len(prefix):]
    return value


def resolve(world, value, kind, field, *, zone=None, region=None, allow_bare=False):
    """(scope, name) of a link to a zonal (``zone``), regional (``region``) or
    global resource of ``kind`` (machineTypes, networks...), full or partial.

    A link to another project or another zone than the request's is invalid."""
    rest = relative(value, world.base_url)
    project = re.escape(world.project)
    if zone is not None:
        pattern = rf"(?:projects/{project}/)?zones/([^/]+)/{kind}/([^/]+)"
    elif region is not None:
        pattern = rf"(?:projects/{project}/)?regions/([^/]+)/{kind}/([^/]+)"
    else:
        pattern = rf"(?:(?:projects/{project}/)?global/{kind}/)?([^/]+)" if allow_bare else \
            rf"(?:projects/{project}/)?global/{kind}/([^/]+)"
    match = re.fullmatch(pattern, rest)
    if not match:
        raise invalid(field, value, "Must be a URL to a valid Compute resource of the correct type.")
    if zone is not None and match.group(1) != zone:
        raise invalid(field, value, f"The resource is in zone '{match.group(1)}', not in '{zone}'.")
    if region is not None and match.group(1) != region:
        raise invalid(field, value, f"The resource is in region '{match.group(1)}', not in '{region}'.")
    return match.groups()[-1]


# -- labels, metadata, requestId --------------------------------------------------

def check_labels(labels, field):
    labels = labels or {}
    if len(labels) > 64:
        raise invalid(field, "...", "Labels may not exceed 64 entries.")
    for key, value in labels.items():
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key):
            raise invalid(f"{field}.{key}", key, "Label keys must start with a lowercase letter, be at most 63 "
                                                 "characters, and contain only lowercase letters, digits, "
                                                 "'_' and '-'.")
        if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_-]{0,63}", value):
            raise invalid(f"{field}.{key}", value, "Label values must be at most 63 characters of lowercase "
                                                   "letters, digits, '_' and '-'.")
    return dict(labels)


def check_metadata_items(items, field):
    items = list(items or [])
    seen = set()
    total = 0
    for i, item in enumerate(items):
        key = item.get("key")
        if key in seen:
            raise invalid(f"{field}.items[{i}].key", key, "Duplicate metadata key.")
        seen.add(key)
        total += len(key or "") + len(item.get("value") or "")
    if total > 512 * 1024:
        raise invalid(f"{field}.items", "...", "Metadata size exceeds 512 KB.")
    return [{"key": item["key"], "value": item.get("value", "")} for item in items]


def check_request_id(query):
    request_id = query.get("requestId")
    if request_id is None:
        return None
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        raise invalid("requestId", request_id, "Must be a valid UUID.") from None
    if parsed.int == 0:
        raise invalid("requestId", request_id, "The zero UUID is not supported.")
    return request_id


def check_name(name, field):
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise invalid(field, name, f"Must be a match of regex '(?:{NAME_PATTERN})'")
    return name


# -- lists ---------------------------------------------------------------------

def _sort(order_by):
    """(key function, descending) of an ``orderBy``; keys are unique per
    list (name, then zone), so a page token can name the last item given."""
    if not order_by or order_by in ("name", "name asc"):
        return (lambda r: [r.get("name", ""), r.get("zone", "")]), False
    if order_by in ("creationTimestamp", "creationTimestamp desc"):
        return (lambda r: [r.get("creationTimestamp", ""), r.get("name", ""), r.get("zone", "")],
                order_by.endswith("desc"))
    raise invalid("orderBy", order_by, "Sorting is supported by 'name' and 'creationTimestamp desc' only.")


def select(items, query):
    """``items`` filtered and ordered as the query asks."""
    text = query.get("filter")
    try:
        predicate = filters.compile_filter(text)
    except ValueError as error:
        raise invalid("filter", text, f"Invalid list filter expression: {error}.") from None
    key, descending = _sort(query.get("orderBy"))
    return sorted((r for r in items if predicate(r)), key=key, reverse=descending)


def page(items, query, kind, self_link, list_id):
    """A list answer of the already selected ``items`` with maxResults/pageToken.

    The token names the last item given, so items that come or go between
    pages shift nothing, as with Compute's tokens."""
    max_results = query.get("maxResults", MAX_RESULTS)
    if max_results > MAX_RESULTS:
        raise invalid("maxResults", max_results, f"Must be less than or equal to {MAX_RESULTS}")
    if max_results == 0:
        max_results = MAX_RESULTS
    key, descending = _sort(query.get("orderBy"))
    scope = [query.get("filter"), query.get("orderBy"), list_id]
    token = query.get("pageToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if decoded["scope"] != scope or not isinstance(decoded["after"], list):
                raise ValueError(token)
            after = decoded["after"]
        except (ValueError, KeyError, TypeError):
            raise invalid("pageToken", token, "The page token does not belong to this list or is "
                                              "malformed.") from None
        items = [r for r in items if (key(r) < after if descending else key(r) > after)]
    chunk = items[:max_results]
    out = {"kind": kind, "id": list_id, "selfLink": self_link}
    if chunk:
        out["items"] = chunk
    if len(items) > max_results:
        out["nextPageToken"] = base64.urlsafe_b64encode(
            json.dumps({"after": key(chunk[-1]), "scope": scope}).encode()).decode()
    return out


def find(mapping, key, link):
    value = mapping.get(key)
    if value is None:
        raise not_found(link)
    return value


__all__ = ["GceError", "HANDLERS", "method", "relative", "resolve", "check_labels", "check_metadata_items",
           "check_request_id", "check_name", "select", "page", "find", "invalid", "not_found"]
