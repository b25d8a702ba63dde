"""Pieces the action handlers share: the handler registry, tag rules, id
checks with EC2's error codes, and MaxResults/NextToken pagination."""
import base64
import json
import re

from .errors import Ec2Error

HANDLERS = {}


def action(name):
    """Registers the decorated function as the handler of EC2 action ``name``.

    A handler takes (api, input dict decoded from the model) and returns the
    output dictionary keyed by the output shape's member names."""
    def register(fn):
        HANDLERS[name] = fn
        return fn
    return register


def dry_run(p):
    """Answers DryRunOperation once a mutating call's checks have passed."""
    if p.get("DryRun"):
        raise Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", status=412)


# -- tags ----------------------------------------------------------------------

MAX_TAGS = 50


def check_tag(key, value):
    if key is None or key == "":
        raise Ec2Error("InvalidParameterValue", "Tag key must not be empty")
    if len(key) > 128:
        raise Ec2Error("InvalidParameterValue", f"Tag key exceeds the maximum length of 128 characters: {key[:40]}...")
    if len(value or "") > 256:
        raise Ec2Error("InvalidParameterValue", f"Tag value exceeds the maximum length of 256 characters (key {key})")
    if key.lower().startswith("aws:"):
        raise Ec2Error("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")


def tags_from_list(tags):
    """[{'Key','Value'}] -> dict, checked as EC2 checks tags."""
    result = {}
    for tag in tags or []:
        key, value = tag.get("Key"), tag.get("Value", "")
        check_tag(key, value)
        if key in result:
            raise Ec2Error("InvalidParameterValue", f"Duplicate tag key '{key}' specified")
        result[key] = value
    if len(result) > MAX_TAGS:
        raise Ec2Error("TagLimitExceeded", f"The maximum number of tags per resource is {MAX_TAGS}")
    return result


def tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tag_specifications(specs, allowed):
    """TagSpecifications -> {resource type: tags}; types not in ``allowed`` are
    rejected, and no type may appear twice (as on EC2)."""
    result = {}
    for spec in specs or []:
        kind = spec.get("ResourceType")
        if not kind:
            raise Ec2Error("InvalidParameterValue", "Tag specifications must name a ResourceType")
        if kind not in allowed:
            raise Ec2Error("InvalidParameterValue",
                           f"'{kind}' is not a valid taggable resource type for this operation.")
        if kind in result:
            raise Ec2Error("InvalidParameterValue",
                           f"The same resource type may not be specified more than once in tag specifications ({kind})")
        result[kind] = tags_from_list(spec.get("Tags"))
    return result


# -- ids -----------------------------------------------------------------------

def id_pattern(prefix):
    return re.compile(rf"^{re.escape(prefix)}-([0-9a-f]{{8}}|[0-9a-f]{{17}})$")


def check_ids(ids, prefix, existing, family, noun):
    """Raises EC2's Malformed / NotFound error for ``ids``.

    ``family`` is the code stem (``InvalidInstanceID``), ``noun`` the phrase of
    the not-found message (``instance ID``). NotFound names every missing id."""
    pattern = id_pattern(prefix)
    for value in ids:
        if not pattern.match(value):
            raise Ec2Error(f"{family}.Malformed", f'Invalid id: "{value}" (expecting "{prefix}-...")')
    missing = [value for value in ids if value not in existing]
    if missing:
        if len(missing) == 1:
            raise Ec2Error(f"{family}.NotFound", f"The {noun} '{missing[0]}' does not exist")
        raise Ec2Error(f"{family}.NotFound", f"The {noun}s '{', '.join(missing)}' do not exist")


# -- pagination ----------------------------------------------------------------

def paginate(items, p, kind, key, with_ids=None, minimum=5, maximum=1000):
    """One page of ``items`` (ordered by ``key``) for MaxResults/NextToken.

    MaxResults outside [minimum, maximum] is InvalidParameterValue; MaxResults
    together with an explicit id list (``with_ids``) is
    InvalidParameterCombination. The token names the last item returned, so
    items that come or go between pages shift nothing. Returns (page, token)."""
    max_results = p.get("MaxResults")
    token = p.get("NextToken")
    if max_results is not None:
        if with_ids:
            raise Ec2Error("InvalidParameterCombination",
                           f"The parameter {with_ids} cannot be used with the parameter maxResults")
        if not minimum <= max_results <= maximum:
            raise Ec2Error("InvalidParameterValue",
                           f"Value ( {max_results} ) for parameter maxResults is invalid. "
                           f"Expecting a value between {minimum} and {maximum}.")
    start_after = None
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if decoded.get("kind") != kind:
                raise ValueError(kind)
            start_after = decoded["after"]
        except (ValueError, KeyError, TypeError):
            raise Ec2Error("InvalidParameterValue", f"Invalid value '{token}' for parameter nextToken") from None
    ordered = sorted(items, key=key)
    if start_after is not None:
        ordered = [item for item in ordered if key(item) > start_after]
    if max_results is None or len(ordered) <= max_results:
        return ordered, None
    page = ordered[:max_results]
    next_token = base64.urlsafe_b64encode(
        json.dumps({"kind": kind, "after": key(page[-1])}).encode()).decode()
    return page, next_token
