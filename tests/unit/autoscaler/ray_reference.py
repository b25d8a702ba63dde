#!/usr/bin/env python3
"""Independent per-bundle model of Ray v1's launch planning on ray-binpack-input/1 files.

Used to cross-check planner-bench (which aggregates shapes): no aggregation here,
one bundle at a time, exactly as resource_demand_scheduler.get_nodes_to_launch
does for nodes, launching_nodes, min_workers, request_resources and plain demands,
with the deterministic best-score choice of upstream Ray (max score, ties to the
greater type name). Placement groups are not modelled (the shared files have none).

usage: ray_reference.py FILE...   -> one JSON line per file, same keys as planner-bench
"""
import json
import os
import sys


def fits(node, d):
    return all(v <= node.get(k, 0.0) for k, v in d.items())


def sub(node, d):
    for k, v in d.items():
        node[k] = node.get(k, 0.0) - v


def key(d):
    return (len(d), sum(d.values()), sorted(d.items()))


def residual(nodes, demands):
    nodes = [dict(n) for n in nodes]
    out = []
    for d in sorted(demands, key=key, reverse=True):
        for n in nodes:
            if fits(n, d):
                sub(n, d)
                break
        else:
            out.append(d)
    return out, nodes


def score(node_res, demands):
    rem = dict(node_res)
    fittable, kinds = [], set()
    for r in demands:
        kinds.update(k for k, v in r.items() if v > 0)
        if fits(rem, r):
            fittable.append(r)
            sub(rem, r)
    if not fittable:
        return None
    utils, matching = [], 0
    for k, v in node_res.items():
        if v < 1:
            continue
        if k in kinds:
            matching += 1
        u = (v - rem[k]) / v
        utils.append(v * u ** 3)
    if not utils:
        return None
    gpu_ok = not (node_res.get("GPU", 0) > 0 and not any("GPU" in r for r in demands))
    return (gpu_ok, matching, min(utils), sum(utils) / len(utils))


def nodes_for(types, counts, max_to_add, demands):
    add = {}
    while demands and sum(add.values()) < max_to_add:
        scores = []
        for name, t in types.items():
            if counts.get(name, 0) + add.get(name, 0) >= t["max_workers"]:
                continue
            s = score(t["resources"], demands)
            if s is not None:
                scores.append((s, name))
        if not scores:
            break
        best = sorted(scores, reverse=True)[0][1]
        add[best] = add.get(best, 0) + 1
        demands, _ = residual([types[best]["resources"]], demands)
    return add, demands


def plan(doc):
    types = {k: dict(v, resources={a: float(b) for a, b in v["resources"].items() if b})
             for k, v in doc["node_types"].items()}
    counts, running, pending, capacity = {}, {}, {}, []
    for n in doc["nodes"]:
        capacity.append({k: float(v) for k, v in n["available"].items()})
        running[n["node_type"]] = running.get(n["node_type"], 0) + 1
        if n["kind"] == "worker":
            counts[n["node_type"]] = counts.get(n["node_type"], 0) + 1
    for t, k in doc.get("launching_nodes", {}).items():
        counts[t] = counts.get(t, 0) + k
        pending[t] = pending.get(t, 0) + k
        capacity += [dict(types[t]["resources"]) for _ in range(k)]
    max_workers = doc["max_workers"]
    adjusted = {}
    for t, cfg in types.items():
        target = min(cfg["min_workers"], cfg["max_workers"])
        if counts.get(t, 0) < target:
            adjusted[t] = target - counts.get(t, 0)
            capacity += [dict(cfg["resources"]) for _ in range(adjusted[t])]
            counts[t] = target
    floors = [{k: float(v) for k, v in d.items()} for d in doc.get("ensure_min_cluster_size", [])]
    if floors:
        totals = [{k: float(v) for k, v in n["total"].items()} for n in doc["nodes"]]
        for t, c in counts.items():
            if t in doc.get("launching_nodes", {}) or t in adjusted:
                totals += [dict(types[t]["resources"]) for _ in range(doc.get("launching_nodes", {}).get(t, 0) + adjusted.get(t, 0))]
        left, _ = residual(totals, floors)
        add, _ = nodes_for(types, counts, max_workers - sum(counts.values()), left)
        for t, k in add.items():
            adjusted[t] = adjusted.get(t, 0) + k
            counts[t] = counts.get(t, 0) + k
            capacity += [dict(types[t]["resources"]) for _ in range(k)]
    demands = [{k: float(v) for k, v in d.items() if v} for d in doc["demands"]]
    left, _ = residual(capacity, demands)
    add, unfulfilled = nodes_for(types, counts, max_workers - sum(counts.values()), left)
    launch = {}
    for t in types:
        want = adjusted.get(t, 0) + add.get(t, 0)
        if not want:
            continue
        allowed = max(5, int(doc["upscaling_speed"] * max(running.get(t, 0), 1)))
        upper = max(allowed - pending.get(t, 0), adjusted.get(t, 0))
        if upper > 0:
            launch[t] = min(upper, want)
    unf = {}
    for d in unfulfilled:
        s = json.dumps({k: (int(v) if v == int(v) else v) for k, v in sorted(d.items())}, separators=(",", ":"))
        unf[s] = unf.get(s, 0) + 1
    return launch, unf


if __name__ == "__main__":
    for f in sys.argv[1:]:
        with open(f) as fh:
            doc = json.load(fh)
        launch, unf = plan(doc)
        print(json.dumps({"file": os.path.basename(f), "nodes_to_launch": dict(sorted(launch.items())),
                          "unfulfilled": dict(sorted(unf.items()))}, separators=(",", ":")))
