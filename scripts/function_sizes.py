#!/usr/bin/env python3
"""List the functions (and, with --classes, the class bodies) in lib/ and cli/
that are longer than a limit.

    .venv/bin/python3 scripts/function_sizes.py [--limit 120] [--classes] [paths]

A brace-matching scan, not a parser: comments, string and character literals
are blanked, then every brace at namespace or class scope is classified by
the text in front of it. A body whose header has a parameter list is a
function; lambdas and blocks inside it count towards it. A function's length
runs from the first line of its signature to its closing brace. Exits 1 when
something is over the limit, so it can guard a build.
"""

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("lib", "cli")
SUFFIXES = (".cpp", ".hpp")
ACCESS = re.compile(r"(?:\s*(?:public|private|protected)\s*:(?!:))+")


def blank_literals(text):
    """Replaces comments and literals by spaces, keeping newlines and offsets."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == "R" and text.startswith('R"', i) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i + 2)
            delim = text[i + 2:open_paren]
            close = text.find(")" + delim + '"', open_paren)
            j = n if close < 0 else close + len(delim) + 2
            blank(i, j)
            i = j
        elif c in "\"'":
            if c == "'" and i and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                i += 1  # digit separator: 1'000'000
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i, min(j + 1, n))
            i = j + 1
        elif c == "#" and (i == 0 or text[text.rfind("\n", 0, i) + 1:i].strip() == ""):
            j = i
            while True:  # a directive runs on over backslash-newlines
                j = text.find("\n", j)
                if j < 0 or text[j - 1] != "\\":
                    break
                j += 1
            j = n if j < 0 else j
            blank(i, j)
            i = j
        else:
            i += 1
    return "".join(out)


def matching_brace(text, i):
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text) - 1


def in_member_init_list(header):
    """True when the header is a constructor's initialiser list so far, so a
    '{' ending it opens a member's brace initialiser, not the body."""
    return bool(re.search(r"\)\s*(noexcept\s*)?:(?!:)", header)) and bool(re.search(r"[\w>]$", header.rstrip()))


def function_name(header):
    before = header[:header.find("(")].rstrip()
    if before.endswith("operator"):  # operator()
        before += "()"
    op = re.search(r"([\w:]*operator\s*\S+)$", before)
    if op:
        return op.group(1)
    if before.endswith("]"):  # a lambda bound to a name at namespace scope
        v = re.search(r"([\w:]+)\s*=\s*\[[^\]]*\]$", before)
        return v.group(1) if v else "<lambda>"
    m = re.search(r"(~?[\w:]+(?:<[^()]*>)?)$", before)
    return m.group(1) if m else "?"


def scan(text):
    """Yields (kind, name, first_line, last_line) for the bodies in `text`."""
    clean = blank_literals(text)
    line_of = [0] * (len(clean) + 1)
    line = 1
    for k, ch in enumerate(clean):
        line_of[k] = line
        if ch == "\n":
            line += 1
    line_of[len(clean)] = line

    def walk(start, end):
        header_start = start
        i = start
        while i < end:
            ch = clean[i]
            if ch in ";}":
                header_start = i + 1
            elif ch == "{":
                access = ACCESS.match(clean, header_start, i)
                if access:
                    header_start = access.end()
                header = clean[header_start:i]
                close = matching_brace(clean, i)
                stripped = header.strip()
                first = header_start + (len(header) - len(header.lstrip()))
                if in_member_init_list(header):
                    i = close + 1
                    continue
                if re.search(r"\bnamespace\b", stripped) or re.match(r"extern\s*$", stripped):
                    yield from walk(i + 1, close)
                elif re.search(r"\benum\b", stripped):
                    pass
                elif re.search(r"\b(class|struct|union)\b", stripped) and "(" not in stripped:
                    name = re.search(r"\b(?:class|struct|union)\s+(?:\[\[[^\]]*\]\]\s*)?([\w:]+)", stripped)
                    yield ("class", name.group(1) if name else "<anonymous>", line_of[first], line_of[close])
                    yield from walk(i + 1, close)
                elif "(" in stripped and not stripped.endswith("="):
                    yield ("function", function_name(stripped), line_of[first], line_of[close])
                i = close + 1
                header_start = i
                continue
            i += 1

    yield from walk(0, len(clean))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("--classes", action="store_true", help="also list class bodies over the limit")
    ap.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    args = ap.parse_args()

    rows = []
    for top in args.paths:
        base = ROOT / top
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix in SUFFIXES)
        for path in files:
            for kind, name, first, last in scan(path.read_text()):
                if kind == "class" and not args.classes:
                    continue
                length = last - first + 1
                if length > args.limit:
                    rows.append((length, kind, name, f"{path.relative_to(ROOT)}:{first}"))

    rows.sort(key=lambda r: (-r[0], r[3]))
    if not rows:
        print(f"no function over {args.limit} lines")
        return 0
    print(f"| lines | kind | name | where |")
    print(f"|---:|---|---|---|")
    for length, kind, name, where in rows:
        print(f"| {length} | {kind} | `{name}` | {where} |")
    return 1


if __name__ == "__main__":
    sys.exit(main())
