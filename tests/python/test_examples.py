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


def gaps(stdout):
    return tuple(float(re.search(rf"max event-loop gap during {phase}: ([\d.]+) ms", stdout).group(1))
                 for phase in ("up", "down"))


def node_gap_limit():
    return float(os.environ.get("RAYCLUSTER_NODE_MAX_GAP_MS", "50"))


def test_node_example_up_with_events_and_responsive_event_loop(example):
    if not shutil.which("node"):
        pytest.fail("node is missing: run scripts/setup.sh (Debian: nodejs npm)")
    node_dir = node_modules()
    # A lone Node timer next to it: Ray starting on two cores delays any
    # process now and then; that is the floor the example is held against.
    control = subprocess.Popen(["node", str(ROOT / "tests" / "python" / "node_ticker.js")],
                               stdout=subprocess.PIPE, text=True)
    try:
        proc = run(example, ["node", node_dir / "up_events.js", CONFIG], cwd=node_dir)
    finally:
        control.terminate()
        control_out = control.communicate(timeout=30)[0]
    control_gap = float(re.search(r"control max gap: ([\d.]+) ms", control_out).group(1))
    assert proc.returncode == 0
    assert "up ended: ok" in proc.stdout and "down ended: ok" in proc.stdout
    events = int(re.search(r"events received during up: (\d+)", proc.stdout).group(1))
    assert events >= 10
    up_gap, down_gap = gaps(proc.stdout)
    print(f"node: max event-loop gap {up_gap} ms during up ({events} events), "
          f"{down_gap} ms during down; an idle Node timer meanwhile: {control_gap} ms")
    limit = node_gap_limit()
    assert up_gap < max(limit, control_gap + limit / 2)
    assert down_gap < max(limit, control_gap + limit / 2)
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
    up_gap, down_gap = gaps(proc.stdout)
    assert up_gap < 5 * node_gap_limit() and down_gap < 5 * node_gap_limit()  # never blocked
    example.assert_gone(NAME, CONFIG)
