#!/usr/bin/env python3
"""Replays a task trace on real Ray, once per autoscaler, one after the other.

Each task of the trace becomes a Ray task (its resources as num_cpus,
num_gpus and custom resources) that sleeps for its scaled duration, submitted
at its scaled arrival by a driver connected to the cluster. Autoscalers:

  ray-v1          Ray's own autoscaler (the monitor `ray start --head
                  --autoscaling-config` starts) over Ray's fake multi-node
                  provider, as ray.cluster_utils.AutoscalingCluster sets it up
  ray-v2          the same with Ray's autoscaler v2 (RAY_enable_autoscaler_v2)
  raycluster      a localhost-provider cluster (`raycluster up`), its
                  autoscaler where the product puts it by default (on the head)
  raycluster-dur  the same with the duration-aware rules on
                  (idle_release_after_startups, --dur-key KEY=VALUE)

Both kinds start real raylets on this machine; no delay is added to either
unless --boot-delay S adds the same to both. Per task: submit, start and end
(start and end measured inside the task). Per node: launch, ready (Ray's node
table) and termination. Report per autoscaler: node-seconds (launch to
termination), launches, p50/p99/max wait from submit to start, all scaled back
to trace time, and the machine's load average during the run.

Usage:
  trace_replay.py --trace FILE [--time-scale X] [--autoscalers A,B,...]
                  [--node-types JSON] [--max-workers N] [--out FILE]
Trace format: see bench/README.md ("trace-replay")."""
import argparse
import csv
import io
import json
import math
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
AUTOSCALERS = ("ray-v1", "ray-v2", "raycluster", "raycluster-dur")
MARKER = "RAYCLUSTER_REPLAY_RUN"
DEFAULT_NODE_TYPES = {"cpu": {"resources": {"CPU": 2}, "max_workers": 4}}
DEFAULT_IDLE_S = 300.0
DEFAULT_UPSCALING_SPEED = 1.0


class TraceError(Exception):
    pass


# ---- trace reading ----------------------------------------------------------

def _number(value, path, line, key, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TraceError(f"{path}:{line}: {key}: not a number: {value!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise TraceError(f"{path}:{line}: {key}: must be a finite number >= {minimum}, not {value}")
    return float(value)


def _resources(value, path, line):
    if isinstance(value, str):
        out = {}
        for part in filter(None, (p.strip() for p in value.split(";"))):
            name, eq, amount = part.partition("=")
            if not eq or not name.strip():
                raise TraceError(f"{path}:{line}: resources: '{part}' is not NAME=AMOUNT")
            out[name.strip()] = amount.strip()
        value = out
    if not isinstance(value, dict) or not value:
        raise TraceError(f"{path}:{line}: resources: must name at least one resource")
    return {str(k): _number(v, path, line, f"resources.{k}") for k, v in value.items()}


def _task(record, path, line):
    for key in ("arrival_s", "duration_s", "resources"):
        if key not in record:
            raise TraceError(f"{path}:{line}: missing key '{key}'")
    return {"arrival_s": _number(record["arrival_s"], path, line, "arrival_s"),
            "duration_s": _number(record["duration_s"], path, line, "duration_s"),
            "resources": _resources(record["resources"], path, line)}


def _header(record, path, line):
    h = record["trace"]
    if not isinstance(h, dict):
        raise TraceError(f"{path}:{line}: trace: must be a mapping")
    for key in ("boot_s", "setup_s", "idle_timeout_s"):
        if key in h:
            h[key] = _number(h[key], path, line, f"trace.{key}")
    if "node_types" in h:
        h["node_types"] = check_node_types(h["node_types"], f"{path}:{line}: trace.node_types")
    return h


def read_trace(path):
    """(header or {}, tasks sorted by arrival) from a JSON-lines or CSV trace."""
    text = pathlib.Path(path).read_text()
    lines = [(n, l) for n, l in enumerate(text.splitlines(), 1)
             if l.strip() and not l.lstrip().startswith("#")]
    header, tasks = {}, []
    if lines and not lines[0][1].lstrip().startswith("{"):
        n0, first = lines[0]
        names = [c.strip() for c in first.split(",")]
        if names != ["arrival_s", "duration_s", "resources"]:
            raise TraceError(f"{path}:{n0}: CSV header must be 'arrival_s,duration_s,resources'")
        for n, l in lines[1:]:
            row = next(csv.reader(io.StringIO(l)))
            if len(row) != 3:
                raise TraceError(f"{path}:{n}: expected 3 columns, got {len(row)}")
            tasks.append(_task(dict(zip(names, row)), path, n))
    else:
        for n, l in lines:
            try:
                record = json.loads(l)
            except json.JSONDecodeError as e:
                raise TraceError(f"{path}:{n}: not JSON: {e.msg}") from None
            if not isinstance(record, dict):
                raise TraceError(f"{path}:{n}: expected a JSON object")
            if "trace" in record:
                if tasks or header:
                    raise TraceError(f"{path}:{n}: the trace header must come first")
                header = _header(record, path, n)
            else:
                tasks.append(_task(record, path, n))
    if not tasks:
        raise TraceError(f"{path}: no tasks")
    tasks.sort(key=lambda t: t["arrival_s"])
    return header, tasks


def check_node_types(types, where):
    if not isinstance(types, dict) or not types:
        raise TraceError(f"{where}: must map node type names to {{resources, max_workers}}")
    out = {}
    for name, t in types.items():
        if not isinstance(t, dict) or not isinstance(t.get("resources"), dict) or not t["resources"]:
            raise TraceError(f"{where}.{name}: needs a 'resources' mapping")
        res = {k: _number(v, where, "-", f"{name}.resources.{k}") for k, v in t["resources"].items()}
        mw = t.get("max_workers", 4)
        if isinstance(mw, bool) or not isinstance(mw, int) or mw < 0:
            raise TraceError(f"{where}.{name}.max_workers: must be a whole number >= 0")
        out[str(name)] = {"resources": res, "max_workers": mw}
    return out


def check_fits(tasks, node_types, path):
    for i, t in enumerate(tasks):
        if not any(all(nt["resources"].get(k, 0) >= v for k, v in t["resources"].items())
                   for nt in node_types.values()):
            raise TraceError(f"{path}: task {i} ({t['resources']}) fits no node type {list(node_types)}")


# ---- the driver (runs in its own process, connected to the cluster) ---------

def ray_options(resources):
    res = dict(resources)
    opts = {"num_cpus": res.pop("CPU", 0), "num_gpus": res.pop("GPU", 0), "max_retries": 0}
    if res:
        opts["resources"] = res
    return opts


def driver_main(address, tasks_file, out_file, settle_s, dashboard):
    import ray
    from ray.util import state as ray_state

    spec = json.loads(pathlib.Path(tasks_file).read_text())
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)

    @ray.remote
    def work(seconds):
        start = time.time()
        time.sleep(seconds)
        return start, time.time(), ray.get_runtime_context().get_node_id()

    t0 = time.time() + 0.5
    refs, submits = [], []
    for t in spec["tasks"]:
        delay = t0 + t["arrival"] - time.time()
        if delay > 0:
            time.sleep(delay)
        submits.append(time.time())
        refs.append(work.options(**ray_options(t["resources"])).remote(t["duration"]))
    # A task whose node died (a node ended under it) is reported, not fatal.
    results, failures = [], []
    for i, ref in enumerate(refs):
        try:
            results.append(ray.get(ref))
        except ray.exceptions.RayError as e:
            results.append(None)
            failures.append({"task": i, "error": f"{type(e).__name__}: {str(e)[:300]}"})
    last_end = time.time()
    # Wait until every worker node is gone (idle timeouts) or settle_s passes.
    head_id = ray.get_runtime_context().get_node_id()
    deadline = time.time() + settle_s
    while time.time() < deadline:
        if not [n for n in ray.nodes() if n["Alive"] and n["NodeID"] != head_id]:
            break
        time.sleep(0.5)
    nodes = []
    try:
        for n in ray_state.list_nodes(address=dashboard, detail=True, limit=10000, raise_on_missing_output=False):
            nodes.append({"node_id": n.node_id, "ip": n.node_ip, "head": bool(n.is_head_node),
                          "state": n.state, "start": n.start_time_ms / 1000.0 if n.start_time_ms else None,
                          "end": n.end_time_ms / 1000.0 if n.end_time_ms else None})
    except Exception as e:  # the state API is not there: fall back to ray.nodes()
        print(f"driver: list_nodes failed ({e}); using ray.nodes()", file=sys.stderr)
        for n in ray.nodes():
            nodes.append({"node_id": n["NodeID"], "ip": n["NodeManagerAddress"], "head": n["NodeID"] == head_id,
                          "state": "ALIVE" if n["Alive"] else "DEAD", "start": None, "end": None})
    out = {"t0": t0, "submits": submits, "results": results, "failures": failures, "last_end": last_end,
           "settled": time.time(), "head_id": head_id, "nodes": nodes}
    pathlib.Path(out_file).write_text(json.dumps(out))
    ray.shutdown()


# ---- helpers ----------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def marked_pids(run_id):
    """Pids of live processes whose environment carries this run's marker."""
    want = f"{MARKER}={run_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def end_marked(run_id, grace=10.0):
    """Ends every process of this run (only those: by marker), TERM then KILL."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        pids = marked_pids(run_id)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while pids and time.time() < deadline:
            time.sleep(0.2)
            pids = marked_pids(run_id)
        if not pids:
            return 0
    return len(marked_pids(run_id))


class LoadSampler:
    def __init__(self, every=2.0):
        self.samples, self._stop, self._every = [], threading.Event(), every
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self._every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        s = self.samples or [os.getloadavg()[0]]
        return {"mean": round(sum(s) / len(s), 2), "max": round(max(s), 2), "samples": len(s)}


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    rank = max(1, math.ceil(p * len(v)))
    return v[min(len(v), rank) - 1]


def venv_env(extra=None):
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env.pop("RAY_ADDRESS", None)
    env.update(extra or {})
    return env


def run_driver(address, dashboard, scaled_tasks, work, settle_s, env, timeout):
    tasks_file, out_file = work / "tasks.json", work / "driver.json"
    tasks_file.write_text(json.dumps({"tasks": scaled_tasks}))
    cmd = [str(VENV_BIN / "python3"), str(pathlib.Path(__file__).resolve()), "--driver", address,
           str(tasks_file), str(out_file), str(settle_s), dashboard]
    with open(work / "driver.log", "w") as log:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"driver exited {proc.returncode}; see {work / 'driver.log'}:\n"
                           + (work / "driver.log").read_text()[-3000:])
    return json.loads(out_file.read_text())


# ---- Ray's own autoscaler (fake multi-node provider) ------------------------

# Ray's fake_multi_node/example.yaml: the defaults its config loader merges in.
# The 2.60 wheel lacks that file, so the monitor is pointed at this copy.
RAY_FAKE_DEFAULTS = {
    "cluster_name": "fake_multinode", "max_workers": 8,
    "provider": {"type": "fake_multinode", "use_node_id_as_ip": True,
                 "disable_node_updaters": True, "disable_launch_config_check": True},
    "available_node_types": {"ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0}},
    "head_node_type": "ray.head.default", "auth": {}, "upscaling_speed": 1.0, "idle_timeout_minutes": 0.1,
    "docker": {}, "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
    "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
    "rsync_exclude": [], "rsync_filter": [],
}

# Loaded by every Python process of the Ray head (PYTHONPATH); acts only in
# the autoscaler's monitor: records each launch and termination of the fake
# provider (and sleeps --boot-delay before a launch), and gives the config
# loader the defaults file the wheel lacks.
SITECUSTOMIZE = r'''
import os, sys
if any(a.endswith("monitor.py") for a in sys.argv[:1]) and os.environ.get("REPLAY_EVENTS"):
    import json, threading, time
    _lock = threading.Lock()
    def _log(kind, node_id, **kw):
        with _lock, open(os.environ["REPLAY_EVENTS"], "a") as f:
            f.write(json.dumps(dict(event=kind, node_id=node_id, time=time.time(), **kw)) + "\n")
    import ray.autoscaler._private.providers as _providers
    _providers._DEFAULT_CONFIGS["fake_multinode"] = lambda: os.environ["REPLAY_DEFAULTS"]
    from ray.autoscaler._private.fake_multi_node import node_provider as _np
    _create = _np.FakeMultiNodeProvider._create_node_with_resources_and_labels
    _terminate = _np.FakeMultiNodeProvider.terminate_node
    _batch = threading.local()
    _create_batch = _np.FakeMultiNodeProvider.create_node_with_resources_and_labels
    def _create_batch_delayed(self, node_config, tags, count, resources, labels):
        # The boot delay once per launch call, so that the nodes of one call
        # all wait it at once, as raycluster's do (their setups run in parallel).
        _batch.t = time.time()
        delay = float(os.environ.get("REPLAY_BOOT_DELAY", "0") or 0)
        if delay > 0:
            time.sleep(delay)
        try:
            return _create_batch(self, node_config, tags, count, resources, labels)
        finally:
            _batch.t = None
    def _create_logged(self, node_config, tags, count, resources, labels):
        t = getattr(_batch, "t", None) or time.time()
        try:
            _create(self, node_config, tags, count, resources, labels)
            kind = "launch"
        except Exception:
            kind = "launch_failed"  # e.g. its raylet took over 30 s to register
            raise
        finally:
            with self.lock:
                node_id = "fffffffffffffffffffffffffffffffffffffffffffffffffff" + str(self._next_node_id).zfill(5)
            _log(kind, node_id, launch=t, node_type=tags.get("ray-user-node-type"))
    def _terminate_logged(self, node_id):
        _log("terminate", node_id)
        _terminate(self, node_id)
    _np.FakeMultiNodeProvider._create_node_with_resources_and_labels = _create_logged
    _np.FakeMultiNodeProvider.create_node_with_resources_and_labels = _create_batch_delayed
    _np.FakeMultiNodeProvider.terminate_node = _terminate_logged
'''


def ray_config(node_types, policy, gcs_address, v2):
    cfg = json.loads(json.dumps(RAY_FAKE_DEFAULTS))
    types = {}
    for name, t in node_types.items():
        res = dict(t["resources"])
        types[name] = {"resources": res, "node_config": {}, "min_workers": 0, "max_workers": t["max_workers"]}
        if v2:
            types[name]["idle_timeout_s"] = policy["idle_timeout_s"]
    types["ray.head.default"] = {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0}
    cfg["available_node_types"] = types
    cfg["max_workers"] = policy["max_workers"]
    cfg["upscaling_speed"] = policy["upscaling_speed"]
    cfg["idle_timeout_minutes"] = policy["idle_timeout_s"] / 60.0
    cfg["provider"]["gcs_address"] = gcs_address
    # One node per node asked for: without it the fake provider makes one
    # node per launch call whatever the count (raycluster makes them all).
    cfg["provider"]["launch_multiple"] = True
    if v2:
        cfg["provider"]["head_node_id"] = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"
    return cfg


def run_ray(kind, scaled, node_types, policy, args, work):
    v2 = kind == "ray-v2"
    run_id = secrets.token_hex(6)
    temp = pathlib.Path(tempfile.mkdtemp(prefix="rr", dir="/tmp"))
    site = work / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    port, dash = free_port(), free_port()
    ip = "127.0.0.1"
    cfg_path, defaults_path, events = work / "ray-autoscaler.json", work / "defaults.yaml", work / "provider.jsonl"
    cfg_path.write_text(json.dumps(ray_config(node_types, policy, f"{ip}:{port}", v2)))
    defaults_path.write_text(json.dumps(RAY_FAKE_DEFAULTS))  # JSON is YAML
    extra = {MARKER: run_id, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": str(args.tick),
             "PYTHONPATH": str(site), "REPLAY_EVENTS": str(events), "REPLAY_DEFAULTS": str(defaults_path),
             "REPLAY_BOOT_DELAY": str(args.boot_delay)}
    if v2:
        head_id = "fffffffffffffffffffffffffffffffffffffffffffffffffff00000"
        extra.update({"RAY_enable_autoscaler_v2": "1", "RAY_CLOUD_INSTANCE_ID": head_id,
                      "RAY_OVERRIDE_NODE_ID_FOR_TESTING": head_id})
    env = venv_env(extra)
    cmd = ["ray", "start", "--head", f"--node-ip-address={ip}", f"--port={port}",
           f"--autoscaling-config={cfg_path}", "--num-cpus=0", f"--temp-dir={temp}",
           f"--dashboard-host={ip}", f"--dashboard-port={dash}", f"--ray-client-server-port={free_port()}",
           f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats"]
    started = time.time()
    try:
        with open(work / "ray-start.log", "w") as log:
            subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=180)
        up_s = time.time() - started
        d = run_driver(f"{ip}:{port}", f"http://{ip}:{dash}", scaled, work, args.settle, env, args.run_timeout)
        shutil.copy(temp / "session_latest" / "logs" / "monitor.log", work / "monitor.log") \
            if (temp / "session_latest" / "logs" / "monitor.log").exists() else None
    finally:
        ended = time.time()
        left = end_marked(run_id)
        shutil.rmtree(temp, ignore_errors=True)
    provider = [json.loads(l) for l in events.read_text().splitlines()] if events.exists() else []
    nodes = {}
    for e in provider:
        n = nodes.setdefault(e["node_id"], {"node_id": e["node_id"]})
        if e["event"] in ("launch", "launch_failed"):
            n["launch"], n["node_type"] = e["launch"], e.get("node_type")
            if e["event"] == "launch_failed":
                n["orphan"] = True  # the provider dropped it; its processes ran on until the end
        else:
            n["terminate"] = e["time"]
    for n in d["nodes"]:
        if n["head"]:
            continue
        m = nodes.setdefault(n["node_id"], {"node_id": n["node_id"]})
        m["ready"], m["gone"] = n["start"], n["end"]
    for n in nodes.values():
        if n.get("orphan") and n.get("gone") is None:
            n["gone"] = ended
    return d, list(nodes.values()), {"up_s": round(up_s, 1), "processes_left": left}


# ---- raycluster (localhost provider) -----------------------------------------

START_COMMANDS = """
head_start_ray_commands:
  - >-
    ray start --head --node-ip-address=$RAYCLUSTER_NODE_IP --port=$RAYCLUSTER_GCS_PORT
    --dashboard-host=$RAYCLUSTER_NODE_IP --dashboard-port=$RAYCLUSTER_DASHBOARD_PORT
    --ray-client-server-port=$RAYCLUSTER_CLIENT_PORT --dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT
    --min-worker-port=$RAYCLUSTER_MIN_WORKER_PORT --max-worker-port=$RAYCLUSTER_MAX_WORKER_PORT
    --temp-dir=$RAYCLUSTER_RAY_TEMP_DIR --object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY
    --disable-usage-stats
worker_start_ray_commands:
  - >-
    ray start --address=$RAY_HEAD_IP:$RAYCLUSTER_GCS_PORT --node-ip-address=$RAYCLUSTER_NODE_IP
    --temp-dir=$RAYCLUSTER_NODE_RAY_TEMP_DIR --dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT --min-worker-port=$RAYCLUSTER_MIN_WORKER_PORT
    --max-worker-port=$RAYCLUSTER_MAX_WORKER_PORT --object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY
    --disable-usage-stats
"""


def raycluster_config(name, node_types, policy, extra_keys, boot_delay):
    lines = [f"cluster_name: {name}", "provider: {type: localhost}",
             f"max_workers: {policy['max_workers']}", f"upscaling_speed: {policy['upscaling_speed']}",
             f"idle_timeout_minutes: {policy['idle_timeout_s'] / 60.0!r}"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in extra_keys.items()]
    lines += ["head_node_type: replay_head", "available_node_types:",
              "  replay_head: {resources: {CPU: 0}, min_workers: 0, max_workers: 0}"]
    for tname, t in node_types.items():
        lines.append(f"  {tname}: {{resources: {json.dumps(t['resources'])}, min_workers: 0, "
                     f"max_workers: {t['max_workers']}}}")
    if boot_delay > 0:
        lines.append(f"worker_setup_commands: ['sleep {boot_delay}']")
    return "\n".join(lines) + "\n" + START_COMMANDS


def rc_events(path):
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return out


def run_raycluster(kind, scaled, node_types, policy, args, work):
    run_id = secrets.token_hex(6)
    name = f"replay-{run_id}"
    home = work / "home"
    home.mkdir()
    extra = {}
    if kind == "raycluster-dur":
        extra["idle_release_after_startups"] = args.idle_release
        for kv in args.dur_key:
            k, _, v = kv.partition("=")
            extra[k] = json.loads(v)
    cfg = work / "cluster.yaml"
    cfg.write_text(raycluster_config(name, node_types, policy, extra, args.boot_delay))
    env = venv_env({MARKER: run_id, "RAYCLUSTER_HOME": str(home)})
    rc = args.raycluster_bin

    def cli(*a, timeout=600, check=True):
        p = subprocess.run([rc, *map(str, a)], env=env, capture_output=True, text=True, timeout=timeout)
        with open(work / "cli.log", "a") as log:
            log.write(f"$ raycluster {' '.join(map(str, a))} -> {p.returncode}\n{p.stdout}{p.stderr}\n")
        if check and p.returncode != 0:
            raise RuntimeError(f"raycluster {' '.join(map(str, a))} exited {p.returncode}:\n{p.stderr[-3000:]}")
        return p

    started = time.time()
    events_log = None
    try:
        cli("up", cfg, "-y")
        up_s = time.time() - started
        st = json.loads(cli("status", cfg, "--json").stdout)
        head = next(n for n in st["nodes"] if n["kind"] == "head")
        local = json.loads((home / name / "localhost.json").read_text())
        ip = head["internal_ip"]
        events_log = home / name / "nodes" / head["id"] / "autoscaler" / "monitor.log"
        dash = local.get("dashboard_port", 8265)
        d = run_driver(f"{ip}:{local['gcs_port']}", f"http://{ip}:{dash}", scaled, work, args.settle, env,
                       args.run_timeout)
        st_end = json.loads(cli("status", cfg, "--json").stdout)
    finally:
        if events_log is not None and events_log.exists():  # the head's folder goes with `down`
            shutil.copy(events_log, work / "monitor.log")
        down_at = time.time()
        cli("down", cfg, "-y", check=False)
        left = end_marked(run_id)
    nodes, ips = {}, {}
    for e in rc_events(work / "monitor.log"):
        for nid in e.get("node_ids", []):
            n = nodes.setdefault(nid, {"node_id": nid, "node_type": e.get("node_type")})
            detail = e.get("detail") or ""
            if e["event"] == "node_status" and " launched (" in detail:
                ips[nid] = detail.split(" launched (", 1)[1].split(")", 1)[0]
            if e["event"] == "launch":
                n["launch"] = e["time"]
            elif e["event"] == "node_ready":
                n["ready_setup"] = e["time"]
            elif e["event"] == "terminate":
                n["terminate"] = e["time"]
    live = {n["id"] for n in st_end["nodes"] if n["kind"] == "worker"}
    for nid in live:  # still there at the end: ended by `down`
        nodes.setdefault(nid, {"node_id": nid}).setdefault("terminate", down_at)
    # Ray's view of the same nodes (by address): when its raylet registered.
    by_ip = {n["ip"]: n for n in d["nodes"] if not n["head"]}
    for nid, n in nodes.items():
        r = by_ip.get(ips.get(nid))
        if r:
            n["ready"], n["gone"] = r["start"], r["end"]
        elif "ready_setup" in n:
            n["ready"] = n["ready_setup"]
    return d, list(nodes.values()), {"up_s": round(up_s, 1), "processes_left": left,
                                      "config_keys": extra}


# ---- report -----------------------------------------------------------------

def summarise(kind, d, nodes, meta, scale, load, tasks):
    waits, started, ended = [], 0, 0
    for i, t in enumerate(tasks):
        r = d["results"][i] if i < len(d["results"]) else None
        if r and r[0]:
            started += 1
            waits.append(max(0.0, r[0] - d["submits"][i]) / scale)
        if r and r[1]:
            ended += 1
    node_s, ready_s, boot_s, launched, terminated = 0.0, 0.0, [], 0, 0
    orphans = [n for n in nodes if n.get("orphan")]
    orphan_s = sum(max(0.0, n["gone"] - n["launch"]) for n in orphans if n.get("gone") and n.get("launch"))
    orphan_ids = {n["node_id"] for n in orphans}
    on_orphans = sum(1 for r in d["results"] if r and r[2] in orphan_ids)
    failures = d.get("failures", [])
    for n in nodes:
        if n.get("orphan"):
            continue
        if n.get("launch") is not None:
            launched += 1
        end = n.get("terminate") or n.get("gone")
        if n.get("terminate") is not None or n.get("gone") is not None:
            terminated += 1
        start = n.get("launch") or n.get("ready")
        if start is not None and end is not None:
            node_s += max(0.0, end - start)
            if n.get("ready") is not None:
                ready_s += max(0.0, end - max(start, n["ready"]))
        if n.get("launch") is not None and n.get("ready") is not None:
            boot_s.append(n["ready"] - n["launch"])
    lag = [max(0.0, s - (d["t0"] + t["arrival_s"] * scale)) for s, t in zip(d["submits"], tasks)]
    r = lambda x, k=1: None if x is None else round(x, k)  # noqa: E731
    return {
        "autoscaler": kind, "tasks": len(tasks), "tasks_started": started, "tasks_ended": ended,
        "tasks_failed": len(failures), "task_failures": failures[:10],
        "node_seconds": r(node_s / scale), "node_seconds_wall": r(node_s, 2),
        "ready_node_seconds": r(ready_s / scale),
        "launches": launched, "terminations": terminated,
        "failed_launches": len(orphans), "failed_launch_node_seconds": r(orphan_s / scale),
        "tasks_on_failed_launches": on_orphans,
        "nodes_not_terminated": launched - terminated if launched >= terminated else 0,
        "p50_wait_s": r(percentile(waits, 0.50)), "p99_wait_s": r(percentile(waits, 0.99)),
        "max_wait_s": r(percentile(waits, 1.0)), "mean_wait_s": r(sum(waits) / len(waits) if waits else None),
        "launch_to_ready_wall_s_median": r(percentile(boot_s, 0.5), 2),
        "submit_lag_wall_s_max": r(max(lag) if lag else 0.0, 3),
        "wall_s": r(d["settled"] - d["t0"]), "cluster_up_wall_s": meta["up_s"],
        "processes_left": meta["processes_left"], "load_avg_1m": load,
        **({"config_keys": meta["config_keys"]} if meta.get("config_keys") else {}),
        "nodes": [{k: (round(v - d["t0"], 3) if isinstance(v, float) else v) for k, v in n.items()}
                  for n in nodes],
    }


def trace_sim_prediction(trace_path, header, sim_bin):
    """trace-sim on the same trace if it reads traces; else its built-in
    workload of the trace's name (said so in 'source')."""
    if not sim_bin or not pathlib.Path(sim_bin).exists():
        return {"source": "none: trace-sim not built"}
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "sim.json"
        p = subprocess.run([sim_bin, "--trace", str(trace_path), "--out", str(out)], capture_output=True,
                           text=True, timeout=600)
        source = f"trace-sim --trace {trace_path}"
        if p.returncode != 0 or not out.exists():
            p = subprocess.run([sim_bin, "--out", str(out)], capture_output=True, text=True, timeout=600)
            source = (f"trace-sim built-in workload '{header.get('name')}' (this trace-sim has no --trace: "
                      "different node types, boot and scale than the live run)")
            if p.returncode != 0 or not out.exists():
                return {"source": f"none: trace-sim failed ({p.returncode})"}
        sim = json.loads(out.read_text())
    rows = [r for r in sim.get("results", []) if r.get("workload") == header.get("name")] or \
        (sim.get("results", []) if source.startswith("trace-sim --trace") else [])
    keep = ("policy", "node_hours", "p50_wait_s", "p99_wait_s", "max_wait_s", "launches")
    return {"source": source, "results": [{k: r.get(k) for k in keep} for r in rows]}


def compare(runs, sim):
    by = {r["autoscaler"]: r for r in runs}
    out = {}
    ours, ray = by.get("raycluster"), by.get("ray-v1")
    for variant in ("raycluster", "raycluster-dur"):
        o = by.get(variant)
        for base in ("ray-v1", "ray-v2"):
            b = by.get(base)
            if not o or not b or "error" in o or "error" in b or not b["node_seconds"]:
                continue
            ratio = o["node_seconds"] / b["node_seconds"]
            out[f"{variant}_vs_{base}"] = {
                "node_seconds_ratio": round(ratio, 3), "p99_wait_ratio":
                    round(o["p99_wait_s"] / b["p99_wait_s"], 3) if b["p99_wait_s"] else None,
                "goal_node_seconds_at_most_0.85": ratio <= 0.85,
                "goal_p99_not_worse": o["p99_wait_s"] <= b["p99_wait_s"],
                "goal_met": ratio <= 0.85 and o["p99_wait_s"] <= b["p99_wait_s"]}
    sim_by = {r["policy"]: r for r in sim.get("results", [])}
    # The simulator's error as a number whatever it ran: its predicted
    # ratio ours / ray-v1 of node-hours (and of p99 wait) against the live one.
    s_ours, s_ray = sim_by.get("ours"), sim_by.get("ray-v1")
    if ours and ray and "error" not in ours and "error" not in ray and s_ours and s_ray \
            and s_ray.get("node_hours") and ray["node_seconds"]:
        live_ratio = ours["node_seconds"] / ray["node_seconds"]
        sim_ratio = s_ours["node_hours"] / s_ray["node_hours"]
        out["sim_vs_live_raycluster_over_ray_v1"] = {
            "node_seconds_ratio_live": round(live_ratio, 3), "node_hours_ratio_sim": round(sim_ratio, 3),
            "ratio_error_live_minus_sim": round(live_ratio - sim_ratio, 3),
            "p99_wait_ratio_live": round(ours["p99_wait_s"] / ray["p99_wait_s"], 3) if ray["p99_wait_s"] else None,
            "p99_wait_ratio_sim": round(s_ours["p99_wait_s"] / s_ray["p99_wait_s"], 3)
            if s_ray.get("p99_wait_s") else None}
    if sim.get("source", "").startswith("trace-sim --trace"):
        for live, pol in ((ours, "ours"), (ray, "ray-v1")):
            s = sim_by.get(pol)
            if live and "error" not in live and s and s.get("node_hours"):
                out[f"sim_error_{pol}"] = {
                    "node_seconds_live_over_sim": round(live["node_seconds"] / (s["node_hours"] * 3600), 3),
                    "p99_wait_live_minus_sim_s": round(live["p99_wait_s"] - s["p99_wait_s"], 1)}
    return out


def replay(args):
    header, tasks = read_trace(args.trace)
    node_types = header.get("node_types") or DEFAULT_NODE_TYPES
    if args.node_types:
        node_types = check_node_types(json.loads(args.node_types), "--node-types")
    if args.max_workers is not None:
        node_types = {k: dict(v, max_workers=min(v["max_workers"], args.max_workers))
                      for k, v in node_types.items()}
    check_fits(tasks, node_types, args.trace)
    scale = args.time_scale
    idle_s = header.get("idle_timeout_s", DEFAULT_IDLE_S)
    policy = {"max_workers": args.max_workers if args.max_workers is not None
              else sum(t["max_workers"] for t in node_types.values()),
              "upscaling_speed": args.upscaling_speed, "idle_timeout_s": round(idle_s * scale, 3)}
    scaled = [{"arrival": t["arrival_s"] * scale, "duration": t["duration_s"] * scale,
               "resources": t["resources"]} for t in tasks]
    name = header.get("name") or pathlib.Path(args.trace).stem
    runs = []
    work_root = pathlib.Path(tempfile.mkdtemp(prefix="trace-replay-"))
    for kind in args.autoscalers:
        work = work_root / kind
        work.mkdir()
        print(f"[{name}] {kind}: {len(tasks)} tasks, time scale {scale} (work folder {work})", flush=True)
        runner = run_ray if kind.startswith("ray-") else run_raycluster
        try:
            with LoadSampler() as load:
                d, nodes, meta = runner(kind, scaled, node_types, policy, args, work)
        except Exception as e:  # noqa: BLE001 - reported, the other autoscalers still run
            print(f"[{name}] {kind}: failed: {e}", file=sys.stderr, flush=True)
            runs.append({"autoscaler": kind, "error": str(e)[-2000:], "load_avg_1m": load.summary()})
            continue
        row = summarise(kind, d, nodes, meta, scale, load.summary(), tasks)
        runs.append(row)
        print(f"[{name}] {kind}: node-s {row['node_seconds']} launches {row['launches']} "
              f"p50 {row['p50_wait_s']} p99 {row['p99_wait_s']} max {row['max_wait_s']} "
              f"load {row['load_avg_1m']['mean']}", flush=True)
    if not args.keep_work:
        shutil.rmtree(work_root, ignore_errors=True)
    sim = trace_sim_prediction(args.trace, dict(header, name=name), args.trace_sim)
    return {"workload": name, "trace": str(args.trace), "tasks": len(tasks), "time_scale": scale,
            "node_types": node_types, "policy": policy, "tick_s": args.tick, "boot_delay_s": args.boot_delay,
            "runs": runs, "trace_sim": sim, "comparison": compare(runs, sim)}


def write_report(out, report):
    """Merges this workload's report into OUT (one entry per workload)."""
    path = pathlib.Path(out)
    doc = {"workloads": []}
    if path.exists():
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    doc["workloads"] = [w for w in doc.get("workloads", []) if w.get("workload") != report["workload"]]
    doc["workloads"].append(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def make_trace(kind, out, seed):
    """Small synthetic traces shaped like trace-sim's workloads, sized for a
    few CPU:2 workers (steady: Poisson arrivals; bursty: bursts after gaps;
    many_short: many short tasks)."""
    import random
    rng = random.Random(seed)
    tasks = []
    if kind == "steady":   # 0.02/s for 1 h, 30-300 s: ~2 CPUs busy on average
        t = rng.expovariate(0.02)
        while t < 3600:
            tasks.append((t, rng.uniform(30, 300)))
            t += rng.expovariate(0.02)
    elif kind == "bursty":  # every 15 min a burst of 8-16 tasks within 10 s, 30-120 s
        for b in range(60, 3600, 900):
            for _ in range(rng.randint(8, 16)):
                tasks.append((b + rng.uniform(0, 10), rng.uniform(30, 120)))
    elif kind == "many_short":  # Poisson 0.9/s for 30 min, 1-10 s: ~5 CPUs busy on average
        t = rng.expovariate(0.9)
        while t < 1800:
            tasks.append((t, rng.uniform(1, 10)))
            t += rng.expovariate(0.9)
    elif kind == "small":  # CI: 40 tasks within 30 s, 20-60 s, idle timeout 60 s
        for _ in range(40):
            tasks.append((rng.uniform(0, 30), rng.uniform(20, 60)))
    else:
        raise TraceError(f"unknown trace kind {kind}")
    # Named as trace-sim's workloads of the same shape (its built-in ones
    # answer for these until it reads trace files).
    header = {"trace": {"name": kind if kind != "small" else "replay_small", "node_types": DEFAULT_NODE_TYPES,
                        "boot_s": 60, "setup_s": 30, "idle_timeout_s": 60 if kind == "small" else 300}}
    lines = [json.dumps(header)] + [json.dumps({"arrival_s": round(a, 2), "duration_s": round(d, 2),
                                                "resources": {"CPU": 1}}) for a, d in sorted(tasks)]
    pathlib.Path(out).write_text("\n".join(lines) + "\n")


def recompare(args):
    """Runs trace-sim again for every workload of OUT and recomputes the
    comparisons (e.g. once trace-sim reads traces), keeping the live runs."""
    path = pathlib.Path(args.out)
    doc = json.loads(path.read_text())
    for w in doc.get("workloads", []):
        header = {"name": w["workload"]}
        trace = ROOT / w["trace"] if not pathlib.Path(w["trace"]).is_absolute() else pathlib.Path(w["trace"])
        w["trace_sim"] = trace_sim_prediction(trace, header, args.trace_sim)
        w["comparison"] = compare(w["runs"], w["trace_sim"])
    path.write_text(json.dumps(doc, indent=1) + "\n")


def table(out):
    """The results file as a Markdown table (bench/README.md)."""
    doc = json.loads(pathlib.Path(out).read_text())
    print("| workload | autoscaler | node-s | ready node-s | launches (failed) | p50 wait s | p99 wait s "
          "| max wait s | boot wall s (median) | load (mean/max) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in doc.get("workloads", []):
        for r in w["runs"]:
            if "error" in r:
                print(f"| {w['workload']} | {r['autoscaler']} | failed: {r['error'][:60]} |||||||")
                continue
            print(f"| {w['workload']} | {r['autoscaler']} | {r['node_seconds']:.0f} | "
                  f"{r.get('ready_node_seconds', float('nan')):.0f} | {r['launches']} ({r.get('failed_launches', '-')}) | "
                  f"{r['p50_wait_s']:.0f} | {r['p99_wait_s']:.0f} | {r['max_wait_s']:.0f} | "
                  f"{r['launch_to_ready_wall_s_median']:.1f} | {r['load_avg_1m']['mean']:.1f}/{r['load_avg_1m']['max']:.1f} |")


def main(argv):
    if argv[:1] == ["--driver"]:
        driver_main(argv[1], argv[2], argv[3], float(argv[4]), argv[5])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", help="trace file (JSON lines or CSV)")
    p.add_argument("--make-trace", nargs=2, metavar=("KIND", "FILE"),
                   help="write a synthetic trace (steady, bursty, many_short, small) and exit")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--time-scale", type=float, default=0.02)
    p.add_argument("--autoscalers", default="ray-v1,ray-v2,raycluster")
    p.add_argument("--node-types", help='JSON: {"cpu": {"resources": {"CPU": 2}, "max_workers": 4}}')
    p.add_argument("--max-workers", type=int)
    p.add_argument("--upscaling-speed", type=float, default=DEFAULT_UPSCALING_SPEED)
    p.add_argument("--idle-release", type=float, default=0.5,
                   help="raycluster-dur's idle_release_after_startups")
    p.add_argument("--dur-key", action="append", default=[], metavar="KEY=JSON",
                   help="another top-level config key for raycluster-dur")
    p.add_argument("--boot-delay", type=float, default=0.0, help="seconds added to every launch, both kinds")
    p.add_argument("--tick", type=int, default=5,
                   help="Ray's AUTOSCALER_UPDATE_INTERVAL_S (whole seconds; raycluster's head autoscaler ticks every 5 s)")
    p.add_argument("--settle", type=float, default=120.0, help="wall seconds to wait for idle nodes to go")
    p.add_argument("--run-timeout", type=float, default=1800.0)
    p.add_argument("--raycluster-bin", default=os.environ.get("RAYCLUSTER_BIN", str(ROOT / "build/cli/raycluster")))
    p.add_argument("--trace-sim", default=str(ROOT / "build/bench/autoscaler/trace-sim"))
    p.add_argument("--out", default=str(ROOT / "bench/results/trace_replay.json"))
    p.add_argument("--keep-work", action="store_true", help="keep each run's folder (logs, driver output)")
    p.add_argument("--table", action="store_true", help="print --out as a Markdown table")
    p.add_argument("--recompare", action="store_true",
                   help="run trace-sim again for the workloads of --out and redo the comparisons")
    args = p.parse_args(argv)
    try:
        if args.make_trace:
            make_trace(args.make_trace[0], args.make_trace[1], args.seed)
            return 0
        if args.recompare:
            recompare(args)
            return 0
        if args.table:
            table(args.out)
            return 0
        if not args.trace:
            p.error("--trace is required")
        if not args.time_scale > 0:
            p.error("--time-scale must be > 0")
        args.autoscalers = [a.strip() for a in args.autoscalers.split(",") if a.strip()]
        for a in args.autoscalers:
            if a not in AUTOSCALERS:
                p.error(f"--autoscalers: unknown '{a}' (known: {', '.join(AUTOSCALERS)})")
        report = replay(args)
    except TraceError as e:
        print(f"trace_replay: {e}", file=sys.stderr)
        return 2
    write_report(args.out, report)
    print(json.dumps(report["comparison"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
