"""IAM identity-policy evaluation, for the EC2 emulator's instance roles.

``evaluate(documents, action, resource, context)`` answers "allow", "deny"
(an explicit Deny matched) or "implicit-deny" (no Allow matched), as IAM
evaluates identity policies of one principal: an explicit Deny wins, else any
Allow, else the implicit deny. Supported, as IAM documents them:

* ``Action``/``NotAction`` with ``*`` and ``?`` wildcards, case-insensitive;
* ``Resource``/``NotResource`` with wildcards, case-sensitive;
* ``Condition`` operators ``StringEquals``, ``StringNotEquals``,
  ``StringEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``, ``ArnEquals``,
  ``ArnLike``, ``Bool`` and ``Null``, each with the ``ForAnyValue:``/``ForAllValues:``
  set prefixes and the ``...IfExists`` suffix. Keys within one operator must
  all match (AND), values of one key any (OR). A missing key fails every
  operator but the negated ones, ``...IfExists`` and ``Null``.
  Condition key names are case-insensitive (the tag key part of
  ``aws:RequestTag/...`` included, as the emulator's tags are compared that way).

``ec2_authorizations(world, action, params, region, account)`` turns one
EC2 request into what IAM authorizes for it: a list of (action, resource ARN,
context) that must all be allowed. RunInstances is authorized per resource
it touches (the instance with its request tags, the image, subnet, security
groups, key pair, network interface and volume), plus ``ec2:CreateTags`` with
``ec2:CreateAction=RunInstances`` when it tags at launch; CreateTags,
DeleteTags, TerminateInstances, StopInstances and StartInstances per instance
with its current tags as ``aws:ResourceTag/...``; Describe* on ``*``.
"""
import json
import re


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern, value, ignore_case=False):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _matches_action(statement, action):
    if "NotAction" in statement:
        return not any(_wildcard(p, action, True) for p in _as_list(statement["NotAction"]))
    return any(_wildcard(p, action, True) for p in _as_list(statement.get("Action")))


def _matches_resource(statement, resource):
    if "NotResource" in statement:
        return not any(_wildcard(p, resource) for p in _as_list(statement["NotResource"]))
    return any(_wildcard(p, resource) for p in _as_list(statement.get("Resource")))


def _compare(base, expected, actual):
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return _wildcard(expected, actual)
    if base == "Bool":
        return actual.lower() == str(expected).lower()
    raise ValueError(f"unsupported condition operator {base}")


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike",
            "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase", "ArnNotEquals": "ArnEquals",
            "ArnNotLike": "ArnLike"}


def _operator_holds(operator, key, expected_values, context):
    lowered = {k.lower(): v for k, v in context.items()}
    actual = lowered.get(key.lower())
    set_op = None
    if ":" in operator:
        set_op, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[:-len("IfExists")]
    expected_values = [str(v) if not isinstance(v, str) else v for v in _as_list(expected_values)]
    if operator == "Null":
        want_missing = str(expected_values[0]).lower() == "true"
        return (actual is None) == want_missing
    if actual is None:
        return if_exists or operator in _NEGATED or set_op == "ForAllValues"
    actual_values = _as_list(actual)
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)

    def one(value):
        hit = any(_compare(base, e, value) for e in expected_values)
        return not hit if negated else hit

    if set_op == "ForAllValues":
        return all(one(v) for v in actual_values)
    return any(one(v) for v in actual_values)


def _conditions_hold(statement, context):
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not _operator_holds(operator, key, expected, context):
                return False
    return True


def statement_applies(statement, action, resource, context):
    """True when the statement's action, resource and conditions all match."""
    return (_matches_action(statement, action) and _matches_resource(statement, resource)
            and _conditions_hold(statement, context))


def evaluate(documents, action, resource, context=None):
    """"allow", "deny" or "implicit-deny" for one request under the policies."""
    context = context or {}
    allowed = False
    for document in documents:
        doc = json.loads(document) if isinstance(document, str) else document
        for statement in _as_list(doc.get("Statement")):
            if not statement_applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return "deny"
            if statement.get("Effect") == "Allow":
                allowed = True
    return "allow" if allowed else "implicit-deny"


# -- what an EC2 request asks IAM for ---------------------------------------------

def _tag_context(prefix, tags):
    return {f"{prefix}/{k}": v for k, v in tags.items()}


def _spec_tags(params, resource_type):
    tags = {}
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") == resource_type:
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []})
    return tags


def ec2_authorizations(world, action, params, region, account):
    """[(iam action, resource ARN, context)] that must all be allowed."""
    arn = f"arn:aws:ec2:{region}:{account}"
    ec2_action = "ec2:" + action
    if action.startswith("Describe"):
        return [(ec2_action, "*", {})]
    if action == "RunInstances":
        instance_tags = _spec_tags(params, "instance")
        out = [(ec2_action, f"{arn}:instance/*", _tag_context("aws:RequestTag", instance_tags)),
               (ec2_action, f"arn:aws:ec2:{region}::image/{params.get('ImageId', '')}", {}),
               (ec2_action, f"{arn}:network-interface/*", {}),
               (ec2_action, f"{arn}:volume/*", _tag_context("aws:RequestTag", _spec_tags(params, "volume")))]
        subnet = params.get("SubnetId") or next(
            (s.id for s in getattr(world, "subnets", {}).values() if getattr(s, "default_for_az", False)), "*")
        out.append((ec2_action, f"{arn}:subnet/{subnet}", {}))
        for group in params.get("SecurityGroupIds") or []:
            out.append((ec2_action, f"{arn}:security-group/{group}", {}))
        if params.get("KeyName"):
            out.append((ec2_action, f"{arn}:key-pair/{params['KeyName']}", {}))
        if params.get("TagSpecifications"):
            context = _tag_context("aws:RequestTag", instance_tags)
            context["ec2:CreateAction"] = "RunInstances"
            out.append(("ec2:CreateTags", f"{arn}:instance/*", context))
        return out
    if action in ("CreateTags", "DeleteTags", "TerminateInstances", "StopInstances", "StartInstances",
                  "RebootInstances"):
        ids = params.get("Resources") or params.get("InstanceIds") or []
        request = {t["Key"]: t.get("Value", "") for t in params.get("Tags") or []}
        out = []
        for resource_id in ids:
            inst = world.instances.get(resource_id)
            tags = dict(inst.tags) if inst is not None else {}
            context = _tag_context("aws:ResourceTag", tags)
            if action == "CreateTags":
                context.update(_tag_context("aws:RequestTag", request))
            out.append((ec2_action, f"{arn}:instance/{resource_id}", context))
        return out
    return [(ec2_action, f"{arn}:*", {})]


def authorize(documents, requests):
    """(True, None) when every request is allowed, else (False, the first refused)."""
    for request in requests:
        if evaluate(documents, *request) != "allow":
            return False, request
    return True, None
