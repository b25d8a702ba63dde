#!/usr/bin/env python3
"""The module graph of lib/, checked against the layers of DESIGN.md.

A module is a folder under lib/ (lib/providers/<name> is a module of its
own: providers/aws, providers/local, providers/onprem, providers/common).
Every `#include "X/..."` line of a file under lib/ is an edge from the
file's module to module X (a file of lib/ itself or of a folder that is not
in LAYERS is an error: a new module is placed in LAYERS first).

The layers, top to bottom. A module may include its own layer's files and
those of layers below it, never above:

    monitor            the reconcile loop; drives a Cluster
    cluster            the lifecycle and the provider factory: the one module
                       that knows every provider
    autoscaler         the planner (pure)
    updater            node setup over a CommandRunner
    providers/*        one module per cloud; none includes another
    providers/common   the floor every provider stands on
    ssh
    auth
    http
    spec
    util

DESIGN.md draws lib/cluster above lib/monitor; the monitor's loop calls
Cluster's building blocks (launch_workers, setup_node, terminate_nodes), and
nothing in lib/cluster calls the monitor, so the monitor is the top layer.

Fails (exit 1) on any cycle between modules, on a provider module that
includes another provider module, and on an include that points up a
layer; each failure names the include as file:line.

Usage: layers.py <lib folder>     check the tree
       layers.py --self-test       check that the checks fail where they must
"""

import os
import re
import sys
import tempfile

# Top to bottom; "providers/*" stands for every provider module but common.
LAYERS = [
    "monitor",
    "cluster",
    "autoscaler",
    "updater",
    "providers/*",
    "providers/common",
    "ssh",
    "auth",
    "http",
    "spec",
    "util",
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCES = (".hpp", ".cpp", ".h", ".c", ".inc")


def module_of(path):
    """The module of a path relative to lib/ ("providers/aws/x.hpp" ->
    "providers/aws"), or None for a file directly in lib/."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    if parts[0] == "providers" and len(parts) >= 3:
        return "providers/" + parts[1]
    return parts[0]


def is_provider(module):
    return module.startswith("providers/") and module != "providers/common"


def layer_of(module):
    if module in LAYERS:
        return LAYERS.index(module)
    if is_provider(module):
        return LAYERS.index("providers/*")
    return None


def read_edges(lib):
    """[(from module, to module, "file:line", include text)] of every
    include of a lib/ header; plus a list of problems (unknown modules)."""
    edges, problems = [], []
    for root, dirs, files in os.walk(lib):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(SOURCES):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, lib).replace(os.sep, "/")
            src = module_of(rel)
            with open(path, encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    dst = module_of(target)
                    # A file next to the includer ("x.hpp"), or a header
                    # that is not lib's (a generated or system one).
                    if dst is None or not os.path.exists(os.path.join(lib, target)):
                        continue
                    where = "lib/%s:%d" % (rel, n)
                    if src is None or dst is None:
                        continue
                    if src != dst:
                        edges.append((src, dst, where, target))
            if src is None or layer_of(src) is None:
                problems.append('lib/%s: module "%s" has no layer in LAYERS of %s'
                                % (rel, src or rel, os.path.basename(__file__)))
    return edges, problems


def find_cycles(edges):
    """Each cycle of the module graph once, as a list of edges."""
    graph = {}
    for e in edges:
        graph.setdefault(e[0], {}).setdefault(e[1], e)
    cycles, seen = [], set()
    state = {}  # module -> 1 on the path, 2 done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, {})):
            edge = graph[node][nxt]
            if state.get(nxt) == 1:
                start = [e[0] for e in path].index(nxt) if nxt != node else len(path)
                cycle = path[start:] + [edge]
                key = frozenset((e[0], e[1]) for e in cycle)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cycle)
            elif state.get(nxt) is None:
                visit(nxt, path + [edge])
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])
    return cycles


def check(lib):
    """The problems of the tree at `lib`, as lines to print."""
    edges, problems = read_edges(lib)
    for src, dst, where, target in edges:
        if layer_of(src) is None or layer_of(dst) is None:
            continue  # reported as a module without a layer
        if is_provider(src) and is_provider(dst):
            problems.append('%s: #include "%s": provider module %s includes provider module %s'
                            % (where, target, src, dst))
        elif layer_of(dst) < layer_of(src):
            problems.append('%s: #include "%s": %s (layer %d) includes %s, a higher layer (%d)'
                            % (where, target, src, layer_of(src), dst, layer_of(dst)))
    for cycle in find_cycles(edges):
        names = " -> ".join([cycle[0][0]] + [e[1] for e in cycle])
        problems.append("cycle " + names + ":")
        for src, dst, where, target in cycle:
            problems.append('    %s: #include "%s"' % (where, target))
    return problems


def self_test():
    """The checks on synthetic trees: a clean one passes, and a cycle, a
    provider including another, and an upward include each fail and name
    the offending include."""
    def tree(files):
        d = tempfile.mkdtemp(prefix="rc-layers-")
        for path, text in files.items():
            full = os.path.join(d, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        return d

    base = {
        "util/a.hpp": "#pragma once\n",
        "spec/s.hpp": '#include "util/a.hpp"\n',
        "providers/common/provider.hpp": '#include "spec/s.hpp"\n',
        "providers/aws/p.cpp": '#include "providers/common/provider.hpp"\n',
        "providers/gcp/g.cpp": '#include "providers/common/provider.hpp"\n',
        "cluster/c.cpp": '#include "providers/aws/p.cpp"\n#include "providers/gcp/g.cpp"\n',
    }
    failures = []

    def expect(name, files, *wanted):
        problems = check(tree(dict(base, **files)))
        text = "\n".join(problems)
        if not wanted and problems:
            failures.append("%s: expected no problem, got:\n%s" % (name, text))
        for w in wanted:
            if w not in text:
                failures.append("%s: expected %r in:\n%s" % (name, w, text or "(nothing)"))

    expect("clean tree", {})
    expect("cycle", {"util/b.hpp": '#include "spec/s.hpp"\n'},
           "cycle spec -> util -> spec", "lib/util/b.hpp:1", "lib/spec/s.hpp:1")
    expect("provider includes provider",
           {"providers/gcp/g.cpp": '#include "providers/common/provider.hpp"\n\n#include "providers/aws/p.cpp"\n'},
           "lib/providers/gcp/g.cpp:3", "provider module providers/gcp includes provider module providers/aws")
    expect("provider includes cluster",
           {"providers/aws/p.cpp": '#include "cluster/c.cpp"\n'},
           "lib/providers/aws/p.cpp:1", "includes cluster, a higher layer",
           "cycle cluster -> providers/aws -> cluster")
    expect("floor includes a provider",
           {"providers/common/x.cpp": '#include "providers/aws/p.cpp"\n'},
           "lib/providers/common/x.cpp:1", "providers/common (layer 5) includes providers/aws")
    expect("unknown module", {"newthing/n.cpp": '#include "util/a.hpp"\n'},
           'module "newthing" has no layer')
    return failures


def main(argv):
    failures = self_test()
    if failures:
        print("layers.py self-test failed:")
        print("\n".join(failures))
        return 1
    if len(argv) == 2 and argv[1] == "--self-test":
        print("layers.py self-test: ok")
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    problems = check(argv[1])
    if problems:
        print("the module graph of %s breaks the layers:" % argv[1])
        print("\n".join(problems))
        return 1
    edges, _ = read_edges(argv[1])
    print("%d modules, %d module dependencies, no cycle, no include up a layer"
          % (len({e[0] for e in edges} | {e[1] for e in edges}), len({(e[0], e[1]) for e in edges})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
