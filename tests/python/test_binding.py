"""The Python binding end to end on localhost clusters (shell-command nodes,
and one real-Ray case), its exceptions, callbacks and cancellation, and the
binding's table against the library and the header."""
import builtins
import functools
import gc
import getpass
import http.server
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

import raycluster
from raycluster import _lib
from conftest import ROOT, dedent

HEADER = ROOT / "include" / "raycluster" / "raycluster.h"


# --- the table against the library and the header ----------------------------

def exported_symbols():
    out = subprocess.run(["nm", "-D", "--defined-only", _lib.lib._name], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[2].split("@")[0] for line in out.splitlines()
            if len(line.split()) == 3 and line.split()[2].startswith("rc_")}


def test_every_exported_function_is_in_the_binding_table():
    table = {name for name, *_ in _lib.FUNCTIONS}
    assert len(table) == len(_lib.FUNCTIONS), "a function is declared twice"
    assert exported_symbols() == table


def header_enums():
    text = HEADER.read_text()
    enums = {}
    for name, body in re.findall(r"typedef enum (\w+) \{(.*?)\}", text, re.S):
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        enums[name] = {k: int(v) for k, v in re.findall(r"(RC_\w+)\s*=\s*(-?\d+)", body)}
    return enums


def test_every_c_enum_value_is_mirrored():
    enums = header_enums()
    assert set(enums) == {"rc_status", "rc_event_kind", "rc_log_level"}
    mirrors = {
        "rc_status": ("RC_", raycluster.Status),
        "rc_event_kind": ("RC_EVENT_", raycluster.EventKind),
        "rc_log_level": ("RC_LOG_", raycluster.LogLevel),
    }
    for name, values in enums.items():
        prefix, py = mirrors[name]
        assert {k[len(prefix):]: v for k, v in values.items()} == {m.name: m.value for m in py}, name
    # Each status code has its exception class.
    for status in raycluster.Status:
        if status != raycluster.Status.OK:
            cls = raycluster.errors.BY_CODE[status.value]
            assert issubclass(cls, raycluster.RayClusterError)
            assert _lib.lib.rc_status_name(status.value) != "unknown"


def test_macros_and_struct_layouts_match_the_header():
    text = HEADER.read_text()
    defines = dict(re.findall(r"#define (RC_\w+)\s+\(?(-?\d+)\)?", text))
    assert int(defines["RC_ABI_VERSION"]) == raycluster.ABI_VERSION
    assert int(defines["RC_WAIT_FOREVER"]) == _lib.WAIT_FOREVER
    for struct in ("cluster", "up", "scale", "down", "exec", "autoscaler"):
        assert int(defines[f"RC_{struct.upper()}_OPTIONS_VERSION"]) == getattr(
            _lib, f"{struct.upper()}_OPTIONS_VERSION")
    for name, body in re.findall(r"typedef struct (rc_\w+) \{(.*?)\}", text, re.S):
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        c_fields = re.findall(r"(\w+);", body)
        py = getattr(_lib, name)
        assert [f[0] for f in py._fields_] == c_fields, name


# --- errors --------------------------------------------------------------------

def test_config_error_carries_file_line_column_and_key(tmp_path):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(dedent("""
        cluster_name: typo
        provider: {type: localhost}
        head_node_type: head
        available_node_types:
          head:
            resources: {CPU: 1}
            max_wrokers: 0
        """))
    with pytest.raises(raycluster.ConfigError) as info:
        raycluster.ClusterSpec.from_file(cfg)
    e = info.value
    assert (e.file, e.line, e.column) == (str(cfg), 7, 5)
    assert "max_wrokers" in e.key
    assert e.code == -2 and e.category == "config" and not e.retryable and e.request_id == ""
    assert "max_workers" in str(e)  # the did-you-mean
    assert isinstance(e, raycluster.RayClusterError)


def test_missing_file_and_bad_arguments(rc):
    with pytest.raises(raycluster.LocalIOError):
        raycluster.ClusterSpec.from_file(rc.tmp / "nope.yaml")
    with raycluster.Cluster(rc.shell_config("args"), state_root=rc.home) as c:
        with pytest.raises(raycluster.InvalidArgument) as info:
            c.scale(workers=-1)
        assert isinstance(info.value, ValueError) and info.value.category == "invalid_argument"
        with pytest.raises(raycluster.InvalidArgument):
            raycluster.Cluster(c.spec, parallelism=-3)
        with pytest.raises(raycluster.NotFound) as nf:
            c.head_ip()
        assert isinstance(nf.value, RuntimeError)
        with pytest.raises(raycluster.NotFound):
            c.exec("true")
    with pytest.raises(raycluster.InvalidArgument):
        c.status()  # closed


# --- lifecycle -------------------------------------------------------------------

def test_up_status_exec_scale_down_with_events(rc):
    cfg = rc.shell_config("life", workers=1)
    cluster_events, up_events = [], []
    with raycluster.Cluster(cfg, state_root=rc.home, on_event=cluster_events.append) as c:
        assert c.up(on_event=up_events.append) is None
        st = c.status()
        kinds = sorted(n["kind"] for n in st["nodes"])
        assert kinds == ["head", "worker"]
        assert all(n["status"] == "up-to-date" for n in st["nodes"])
        assert c.head_ip() == st["head_ip"] and st["head_ip"].startswith("127.")
        assert len(c.worker_ips()) == 1

        kinds = {e.kind for e in up_events}
        assert kinds == {raycluster.EventKind.NODE_STATUS, raycluster.EventKind.PROGRESS,
                         raycluster.EventKind.LOG}
        assert [str(e) for e in up_events] == [str(e) for e in cluster_events]
        assert any(e.status == "up-to-date" and e.node_type == "worker" for e in up_events)
        last = [e for e in up_events if e.kind == raycluster.EventKind.PROGRESS][-1]
        assert last.done == last.total >= 1
        assert abs(up_events[0].time - time.time()) < 60

        lines = []
        code, out = c.exec("echo head=$RAY_HEAD_IP; echo warn >&2; exit 3", on_event=lines.append)
        assert code == 3 and out == f"head={st['head_ip']}\n"
        assert [(e.stream, e.message) for e in lines] == [
            ("stdout", f"head={st['head_ip']}"), ("stderr", "warn")] or sorted(
            (e.stream, e.message) for e in lines) == [("stderr", "warn"),
                                                      ("stdout", f"head={st['head_ip']}")]
        worker = [n for n in st["nodes"] if n["kind"] == "worker"][0]
        assert c.exec("echo $RAYCLUSTER_NODE_ID", node=worker["id"]) == (0, worker["id"] + "\n")

        c.scale(workers=2)
        assert len(c.worker_ips()) == 2
        with pytest.raises(raycluster.InvalidArgument, match="max_workers is 3"):
            c.scale(workers=5)

        c.down(workers_only=True)
        assert [n["kind"] for n in c.status()["nodes"]] == ["head"]
        c.down()
    rc.assert_gone("life")


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_cancel_a_running_up(rc):
    # The worker's setup outlasts the test: only the cancel ends this up.
    cfg = rc.shell_config("cancel", workers=1, delay=86400)
    events = []
    with raycluster.Cluster(cfg, state_root=rc.home) as c:
        op = c.up(wait=False, on_event=events.append)
        assert isinstance(op, raycluster.Operation) and not op.done
        wait_until(lambda: any(e.status == "setting-up" and e.node_type == "worker"
                               for e in list(events)))
        time.sleep(0.2)  # the worker's endless `sleep` is running now
        with pytest.raises(raycluster.Conflict):
            c.up(wait=False)
        assert not op.done
        op.cancel()
        with pytest.raises(raycluster.Cancelled) as info:
            op.wait(timeout=60)  # a hang guard: without the cancel it never ends
        assert info.value.category == "cancelled"
        assert op.done
        op.close()
        op.close()  # twice is fine
        # The cancelled up left its nodes; down cleans them.
        assert len(c.status()["nodes"]) == 2
        c.down()
    rc.assert_gone("cancel")


def test_status_from_another_thread_while_up_runs(rc):
    cfg = rc.shell_config("busy", workers=2, delay=1)
    seen = []
    with raycluster.Cluster(cfg, state_root=rc.home) as c:
        op = c.up(wait=False)
        errors = []

        def watch():
            try:
                while not op.done:
                    seen.append(len(c.status()["nodes"]))
                    time.sleep(0.05)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=watch)
        t.start()
        op.wait()
        t.join()
        assert errors == []
        assert len(seen) >= 5 and max(seen) == 3
        c.down()
    rc.assert_gone("busy")


def test_wait_timeout_leaves_the_operation_running(rc):
    cfg = rc.shell_config("slow", workers=1, delay=60)
    with raycluster.Cluster(cfg, state_root=rc.home) as c:
        with c.up(wait=False) as op:
            with pytest.raises(raycluster.TimeoutError) as info:
                op.wait(timeout=0.3)
            assert isinstance(info.value, builtins.TimeoutError)
            assert info.value.category == "wait_timeout"
            assert not op.done
        # Leaving the block closed the running operation: cancelled and joined.
        assert op._h is None
        c.down()
    rc.assert_gone("slow")


def test_exception_in_callback_is_reraised_from_wait(rc):
    cfg = rc.shell_config("raising", workers=1)
    calls = []

    def on_event(ev):
        calls.append(ev)
        raise KeyError("from the callback")

    with raycluster.Cluster(cfg, state_root=rc.home) as c:
        op = c.up(wait=False, on_event=on_event)
        with pytest.raises(KeyError, match="from the callback"):
            op.wait()
        assert len(calls) > 3  # later events still came: nothing crossed into C
        assert [n["status"] for n in c.status()["nodes"]] == ["up-to-date"] * 2
        with pytest.raises(KeyError):
            c.down(on_event=on_event)
        assert c.status()["nodes"] == []
    rc.assert_gone("raising")


def test_callback_may_cancel_its_own_operation(rc):
    cfg = rc.shell_config("selfcancel", workers=1, delay=60)
    holder = {}

    def on_event(ev):
        if ev.status == "setting-up" and ev.node_type == "worker":
            holder["op"].cancel()
            with pytest.raises(raycluster.InvalidArgument):
                holder["op"].wait()  # would deadlock: refused

    with raycluster.Cluster(cfg, state_root=rc.home) as c:
        holder["op"] = c.up(wait=False, on_event=on_event)
        with pytest.raises(raycluster.Cancelled):
            holder["op"].wait(timeout=30)
        holder["op"].close()
        c.down()
    rc.assert_gone("selfcancel")


def test_two_clusters_on_two_threads(rc):
    results = {}

    def run(name):
        try:
            with raycluster.Cluster(rc.shell_config(name, workers=1, delay=1),
                                    state_root=rc.home) as c:
                c.up()
                results[name] = len(c.status()["nodes"])
                c.down()
        except Exception as e:  # noqa: BLE001
            results[name] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"left": 2, "right": 2}
    rc.assert_gone("left")
    rc.assert_gone("right")


# --- Ray's SDK shape ---------------------------------------------------------------

def test_sdk_functions(rc):
    cfg = rc.shell_config("sdk", workers=1)
    config = raycluster.ClusterSpec.from_file(cfg).to_dict()
    assert config["cluster_name"] == "sdk"
    as_dict = {
        "cluster_name": "sdk",
        "provider": {"type": "localhost"},
        "head_node_type": "head",
        "available_node_types": {
            "head": {"resources": {"CPU": 1}, "min_workers": 0, "max_workers": 0},
            "worker": {"resources": {"CPU": 1}, "min_workers": 0, "max_workers": 3,
                       "initial_workers": 1},
        },
        "head_start_ray_commands": ["nohup sleep 3600 > /dev/null 2>&1 &"],
        "worker_start_ray_commands": ["nohup sleep 3600 > /dev/null 2>&1 &"],
    }
    out = raycluster.create_or_update_cluster(as_dict)
    assert out["cluster_name"] == "sdk"
    head = raycluster.get_head_node_ip(str(cfg))
    assert head.startswith("127.")
    assert len(raycluster.get_worker_node_ips(str(cfg))) == 1
    assert raycluster.run_on_cluster(str(cfg), cmd="echo $RAY_HEAD_IP", with_output=True) \
        == head + "\n"
    with pytest.raises(raycluster.CommandFailed) as info:
        raycluster.run_on_cluster(str(cfg), cmd="echo out; exit 4", with_output=True)
    assert info.value.exit_status == 4 and info.value.output == "out\n"
    with pytest.raises(raycluster.Unsupported):
        raycluster.run_on_cluster(str(cfg), cmd="true", tmux=True)
    with pytest.raises(NotImplementedError):
        raycluster.create_or_update_cluster(str(cfg), no_restart=True)
    raycluster.teardown_cluster(str(cfg), workers_only=True)
    assert raycluster.get_worker_node_ips(str(cfg)) == []
    raycluster.teardown_cluster(str(cfg))
    with pytest.raises(RuntimeError):
        raycluster.get_head_node_ip(str(cfg))
    rc.assert_gone("sdk")


# --- real Ray ------------------------------------------------------------------------

def test_real_ray_up_exec_down(rc):
    cfg = ROOT / "examples" / "c" / "cluster.yaml"
    name = raycluster.ClusterSpec.from_file(cfg).cluster_name
    with raycluster.Cluster(cfg, state_root=rc.home, min_log_level=raycluster.LogLevel.INFO) as c:
        try:
            c.up()
            assert [n["status"] for n in c.status()["nodes"]] == ["up-to-date"] * 2
            # Ray's own view catches up within seconds: both nodes' CPUs.
            deadline = time.monotonic() + 60
            while True:
                code, out = c.exec("ray status --address=$RAY_HEAD_IP:$RAYCLUSTER_GCS_PORT")
                if code == 0 and re.search(r"/2\.0 CPU", out) or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert code == 0 and re.search(r"/2\.0 CPU", out), out
            # The localhost head's dashboard is reached directly, no tunnel.
            with c.dashboard() as d:
                assert d.direct and d.host == c.head_ip()
                version = json.loads(urllib.request.urlopen(d.url + "/api/version",
                                                            timeout=30).read())
                assert version["ray_version"] == importlib.metadata.version("ray")
        finally:
            c.down()
    rc.assert_gone(name, cfg)


def test_tunnel_to_an_ssh_head_carries_http(rc, tmp_path):
    """Cluster.tunnel through the C ABI on an on-prem head (a real sshd)."""
    from sshd import Sshd, make_user_key

    key, pub = make_user_key(str(tmp_path / "key"))
    home = tmp_path / "home"
    home.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello over ssh\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    with Sshd(str(tmp_path / "sshd"), addresses=["127.0.0.1"], authorized_keys=pub,
              env={"HOME": str(home)}) as sshd:
        cfg = tmp_path / "onprem.yaml"
        cfg.write_text(textwrap.dedent(f"""
            cluster_name: tunnel-test
            provider: {{type: local, head_ip: 127.0.0.1, worker_ips: [],
                        stop_commands: ["true"]}}
            auth: {{ssh_user: {getpass.getuser()}, ssh_private_key: {key},
                    ssh_port: {sshd.port}}}
            head_start_ray_commands: ["true"]
            """))
        with raycluster.Cluster(cfg, state_root=rc.home) as c:
            c.up()
            try:
                with pytest.raises(raycluster.InvalidArgument):
                    c.tunnel(70000)
                with c.tunnel(web.server_port) as t:
                    assert not t.direct and t.host == "127.0.0.1" and t.port > 0
                    body = urllib.request.urlopen(t.url + "/hello.txt", timeout=10).read()
                    assert body == b"hello over ssh\n"
                # Closed: nothing listens on its port any more.
                with pytest.raises(OSError):
                    urllib.request.urlopen(t.url + "/hello.txt", timeout=5)
            finally:
                c.down()
    web.shutdown()


# --- loading and lifetimes -------------------------------------------------------

def test_missing_library_gives_an_actionable_error(tmp_path):
    env = dict(os.environ, RAYCLUSTER_LIBRARY=str(tmp_path / "libnothere.so"),
               PYTHONPATH=str(ROOT / "bindings" / "python"))
    proc = subprocess.run([sys.executable, "-c", "import raycluster"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "LibraryNotFound" in proc.stderr and "RAYCLUSTER_LIBRARY" in proc.stderr
    assert "ninja -C build" in proc.stderr


def test_callbacks_stay_alive_while_the_library_may_call_them(rc):
    cfg = rc.shell_config("alive", workers=2, delay=1)
    seen = []
    with raycluster.Cluster(cfg, state_root=rc.home) as c:
        op = c.up(wait=False, on_event=lambda e: seen.append(e.kind))  # no other reference
        while not op.done:
            gc.collect()
            time.sleep(0.02)
        op.wait()
        assert len(seen) > 10
        # An operation dropped while it runs is cancelled and joined.
        c.down(wait=False, on_event=lambda e: seen.append(e.kind))
        gc.collect()
        c.down()
    rc.assert_gone("alive")


# --- autoscaling ------------------------------------------------------------------

def _requested(rc, name):
    import json
    requests = json.loads((rc.home / name / "requested_resources.json").read_text())["requests"]
    return [shape for shape, count in requests for _ in range(count)]


def test_request_resources_replaces_and_withdraws(rc):
    cfg = rc.shell_config("pyreq", workers=0)
    with raycluster.Cluster(cfg) as c:
        c.request_resources(num_cpus=2, bundles=[{"GPU": 1, "CPU": 4}])
        assert _requested(rc, "pyreq") == [{"CPU": 1}, {"CPU": 1}, {"CPU": 4, "GPU": 1}]
        c.request_resources(bundles=[{"CPU": 3}])
        assert _requested(rc, "pyreq") == [{"CPU": 3}]
        for bad in ([{"CPU": -1}], [{"CPU": "1"}], [1], {"CPU": 1}, [{"CPU": float("nan")}]):
            with pytest.raises(raycluster.InvalidArgument):
                c.request_resources(bundles=bad)
        with pytest.raises(raycluster.InvalidArgument):
            c.request_resources(num_cpus=-1)
        assert _requested(rc, "pyreq") == [{"CPU": 3}]
        c.request_resources(bundles=[])
        assert _requested(rc, "pyreq") == []
    # The SDK function, Ray's signature.
    raycluster.request_resources(str(cfg), num_cpus=1)
    assert _requested(rc, "pyreq") == [{"CPU": 1}]
    raycluster.request_resources(str(cfg), bundles=[])
    assert _requested(rc, "pyreq") == []
    rc.names.remove("pyreq")  # never brought up


def test_autoscaler_launches_a_worker_on_request(rc):
    cfg = rc.shell_config("pyauto", workers=0)
    events = []
    with raycluster.Cluster(cfg) as c:
        c.up()
        with c.autoscaler(interval=0.2, on_event=events.append) as a:
            assert a.running
            c.request_resources(bundles=[{"CPU": 1}, {"CPU": 1}])
            deadline = time.monotonic() + 60  # a hang guard: one tick launches it
            while time.monotonic() < deadline and not c.worker_ips():
                time.sleep(0.1)
            assert len(c.worker_ips()) >= 1
            c.request_resources(bundles=[])
            a.stop()
            a.stop()  # idempotent
            assert not a.running
        assert any('"launch"' in e.message for e in events)
        assert all(e.kind == raycluster.EventKind.LOG for e in events)
        n = len(events)
        time.sleep(0.5)
        assert len(events) == n  # nothing calls back once stopped
        # raycluster.Autoscaler(cluster, ...) with start()/close().
        a = raycluster.Autoscaler(c, interval=0.1, start=False)
        assert not a.running
        a.start()
        assert a.running
        a.close()
        a.close()
        assert not a.running
