"""Each example (C, C++, Python, Node.js) runs against a real-Ray localhost
cluster (a head and one worker: examples/c/cluster.yaml) with its own
RAYCLUSTER_HOME, and leaves nothing behind."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

CONFIG = ROOT / "examples" / "c" / "cluster.yaml"
NAME = "example"


def run(rc, argv, cwd=None, timeout=600):
    env = dict(os.environ)
    env["RAYCLUSTER_HOME"] = str(rc.home)
    env["PYTHONPATH"] = str(ROOT / "bindings" / "python")
    proc = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    print(proc.stdout[-4000:])
    print(proc.stderr[-4000:], file=sys.stderr)
    return proc


@pytest.fixture
def example(rc):
    yield rc
    if rc.cluster_id(NAME):
        import raycluster
        try:
            rc.assert_gone(NAME, CONFIG)
        finally:  # whatever an example left up, take down
            with raycluster.Cluster(CONFIG, state_root=rc.home) as c:
                c.down()


def binary(var):
    path = os.environ.get(var)
    if not path:
        pytest.fail(f"{var} is not set (run through meson test)")
    return path


def test_c_example(example):
    proc = run(example, [binary("RAYCLUSTER_EXAMPLE_C"), CONFIG])
    assert proc.returncode == 0
    assert re.search(r'^status: \{', proc.stdout, re.M)
    workers = re.search(r"^workers: (\[.*\])$", proc.stdout, re.M)
    assert workers and workers.group(1).count('"127.') == 2  # scaled to two
    assert "up-to-date" in proc.stdout
    example.assert_gone(NAME, CONFIG)


def test_cpp_example(example):
    proc = run(example, [binary("RAYCLUSTER_EXAMPLE_CPP"), CONFIG])
    assert proc.returncode == 0
    assert "`ray status` exited 0" in proc.stdout
    assert re.search(r"\d\.0 CPU", proc.stdout)  # Ray answered (the worker may still be joining)
    example.assert_gone(NAME, CONFIG)


def test_python_example(example):
    script = ROOT / "examples" / "python" / "up_status_down.py"
    assert len([l for l in script.read_text().splitlines()
                if l.strip() and not l.startswith(('"""', "    ")) or l.startswith("    c.")]) <= 14
    proc = run(example, [sys.executable, script, CONFIG])
    assert proc.returncode == 0
    assert '"status": "up-to-date"' in proc.stdout
    example.assert_gone(NAME, CONFIG)


def node_modules():
    node_dir = ROOT / "examples" / "node"
    if not (node_dir / "node_modules" / "koffi").exists():
        if not shutil.which("npm"):
            pytest.fail("npm is missing: run scripts/setup.sh (Debian: nodejs npm)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=node_dir, check=True,
                       capture_output=True, timeout=300)
    return node_dir


def loop_kept_running(stdout, phase):
    """What the Node example saw of its own event loop during `phase`: the
    start call returned before the first event, and its 10 ms timer ticked
    while the operation ran and while its events came in."""
    assert f"{phase} returned before its first event: yes" in stdout
    m = re.search(rf"timer ticks during {phase}: (\d+), between its first and last event: (\d+)", stdout)
    assert m, f"no tick counts for {phase}"
    return int(m.group(1)), int(m.group(2))


def test_node_example_up_with_events_and_responsive_event_loop(example):
    if not shutil.which("node"):
        pytest.fail("node is missing: run scripts/setup.sh (Debian: nodejs npm)")
    node_dir = node_modules()
    proc = run(example, ["node", node_dir / "up_events.js", CONFIG], cwd=node_dir)
    assert proc.returncode == 0
    assert "up ended: ok" in proc.stdout and "down ended: ok" in proc.stdout
    events = int(re.search(r"events received during up: (\d+)", proc.stdout).group(1))
    assert events >= 10
    # Order, not milliseconds: a loop blocked by `up` would tick only after
    # it, never between two of its events (smoothness: bench/node_event_loop_bench.py).
    up_ticks, up_between = loop_kept_running(proc.stdout, "up")
    assert up_ticks > 0 and up_between > 0
    down_ticks, _ = loop_kept_running(proc.stdout, "down")
    assert down_ticks > 0
    example.assert_gone(NAME, CONFIG)


def test_node_example_cancel(example):
    if not shutil.which("node"):
        pytest.fail("node is missing: run scripts/setup.sh (Debian: nodejs npm)")
    node_dir = node_modules()
    proc = run(example, ["node", node_dir / "up_events.js", CONFIG, "--cancel-after-ms", "1500"],
               cwd=node_dir)
    assert proc.returncode == 0
    assert "up ended: cancelled:" in proc.stdout
    assert "down ended: ok" in proc.stdout
    up_ticks, _ = loop_kept_running(proc.stdout, "up")
    assert up_ticks > 0  # the cancel itself came from a timer: the loop never blocked
    example.assert_gone(NAME, CONFIG)
