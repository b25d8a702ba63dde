"""Compute's list ``filter`` expressions over the JSON of a resource.

Supported: comparisons ``field OP value`` with OP one of ``=``, ``!=``,
``:`` (``field:*`` tests presence), ``<``, ``<=``, ``>``, ``>=``, and the
older ``eq``/``ne`` with an RE2-style full-match regex; values bare or quoted;
``AND``, ``OR`` (binding tighter than AND, as in Google's filter grammar),
``NOT``/``-``, parentheses, and juxtaposition as AND:
``(labels.ray-cluster-name = "c1") (status = RUNNING)``. Fields are dotted
paths into the resource (``labels.KEY``, ``status``, ``name``,
``networkInterfaces.networkIP``); a path through a list matches when any
element does. A syntax error raises ValueError.
"""
import re

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>!=|>=|<=|=|:|<|>)|(?P<q>"(?:[^"\\]|\\.)*"'
                    r"|'(?:[^'\\]|\\.)*')|(?P<word>[^\s()=!<>:\"']+))")
MAX_TOKENS = 400


def _tokens(text):
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"unexpected character at {pos}: {text[pos:pos + 10]!r}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "q":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        if len(out) > MAX_TOKENS:
            raise ValueError(f"more than {MAX_TOKENS} tokens")
    return out


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.i, self.depth = tokens, 0, 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.i += 1
        return token

    def parse(self):
        if not self.tokens:
            return lambda resource: True
        node = self.conjunction()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.peek()[1]!r}")
        return node

    def conjunction(self):
        parts = [self.disjunction()]
        while True:
            kind, value = self.peek()
            if kind is None or kind == "rp":
                break
            if kind == "word" and value == "AND":
                self.take()
            parts.append(self.disjunction())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def disjunction(self):
        parts = [self.term()]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def term(self):
        kind, value = self.take()
        if kind == "word" and value in ("NOT", "-"):
            inner = self.term()
            return lambda r: not inner(r)
        if kind == "word" and value.startswith("-") and len(value) > 1:
            self.i -= 1
            self.tokens[self.i] = ("word", value[1:])
            inner = self.term()
            return lambda r: not inner(r)
        if kind == "lp":
            self.depth += 1
            if self.depth > 32:
                raise ValueError("parentheses nested too deep")
            inner = self.conjunction()
            if self.take()[0] != "rp":
                raise ValueError("missing ')'")
            self.depth -= 1
            return inner
        if kind != "word":
            raise ValueError(f"expected a field name, got {value!r}")
        field = value
        op_kind, op = self.take()
        if op_kind == "word" and op in ("eq", "ne"):
            pass
        elif op_kind != "op":
            raise ValueError(f"expected an operator after {field!r}")
        value_kind, operand = self.take()
        if value_kind not in ("word", "q"):
            raise ValueError(f"expected a value after {field} {op}")
        return _comparison(field, op, operand)


def _values(resource, path):
    current = [resource]
    for part in path.split("."):
        nxt = []
        for item in current:
            if isinstance(item, list):
                item_list = item
            else:
                item_list = [item]
            for element in item_list:
                if isinstance(element, dict) and part in element:
                    child = element[part]
                    nxt.extend(child if isinstance(child, list) else [child])
        current = nxt
    return [v for v in current if not isinstance(v, (dict, list))]


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ordered(a, b):
    try:
        return float(a), float(b)
    except ValueError:
        return a, b


def _comparison(field, op, operand):
    if op in ("eq", "ne"):
        regex = re.compile(operand)
        hit = lambda r: any(regex.fullmatch(_text(v)) for v in _values(r, field))  # noqa: E731
        return hit if op == "eq" else (lambda r: not hit(r))

    def check(resource):
        values = [_text(v) for v in _values(resource, field)]
        if op == ":":
            return bool(values) if operand == "*" else any(operand in v for v in values)
        if op == "=":
            return operand in values
        if op == "!=":
            return operand not in values
        pairs = [_ordered(v, operand) for v in values]
        return any({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op] for a, b in pairs
                   if type(a) is type(b))
    return check


def compile_filter(text):
    """A predicate over resource dicts for ``text`` (ValueError if malformed)."""
    return _Parser(_tokens(text or "")).parse()
