"""EC2 ``Filter.N.Name`` / ``Filter.N.Value.M`` matching.

Filters are ANDed, the values of one filter ORed; values match with EC2's
wildcards (``*`` any run, ``?`` one character, ``\\`` escapes them),
case-sensitively; a call carries at most 200 values in all
(``FilterLimitExceeded``). ``tag:<key>`` matches the value of that tag, ``tag-key`` and
``tag-value`` any tag's key or value. A filter name the resource does not know
is ``InvalidParameterValue``, as on EC2. Filters see the emulator's own
records (``state.Instance`` and the like), each with a ``tags`` dict.
"""
import re

from .errors import Ec2Error

MAX_VALUES = 200  # filter values per call, all filters together


def wildcard(pattern):
    """A compiled regular expression for one EC2 filter value."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def apply(filters, items, fields):
    """The items every filter matches.

    ``fields`` maps a filter name to a function item -> list of values; each
    item has a ``tags`` dict for the tag filters."""
    total = sum(len(f.get("Values") or []) for f in filters or [])
    if total > MAX_VALUES:
        raise Ec2Error("FilterLimitExceeded",
                       f"The maximum number of filter values specified on a single call is {MAX_VALUES}")
    checks = []
    for f in filters or []:
        name, values = f.get("Name"), f.get("Values") or []
        if not name:
            raise Ec2Error("InvalidParameterValue", "The filter name must not be empty")
        if not values:
            raise Ec2Error("InvalidParameterValue", f"The filter '{name}' has no values")
        if name.startswith("tag:"):
            key = name[4:]
            getter = (lambda k: lambda item: [item.tags[k]] if k in item.tags else [])(key)
        elif name == "tag-key":
            getter = lambda item: list(item.tags)  # noqa: E731
        elif name == "tag-value":
            getter = lambda item: list(item.tags.values())  # noqa: E731
        elif name in fields:
            getter = fields[name]
        else:
            raise Ec2Error("InvalidParameterValue", f"The filter '{name}' is invalid")
        checks.append((getter, [wildcard(v) for v in values]))
    result = []
    for item in items:
        ok = True
        for getter, patterns in checks:
            got = [str(v) for v in getter(item) if v is not None]
            if not any(p.fullmatch(v) for p in patterns for v in got):
                ok = False
                break
        if ok:
            result.append(item)
    return result
