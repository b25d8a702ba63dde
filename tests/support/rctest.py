"""Helpers shared by the Python-driven test suites (lifecycle, python, autoscale)."""
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def raycluster_binary():
    """The command line under test: $RAYCLUSTER_BIN, else build/cli/raycluster."""
    path = os.environ.get("RAYCLUSTER_BIN")
    if path:
        return path
    candidate = ROOT / "build" / "cli" / "raycluster"
    if not candidate.exists():
        raise RuntimeError("set RAYCLUSTER_BIN or build build/cli/raycluster first")
    return str(candidate)


def processes_with_marker(prefix):
    """Pids of live processes whose environment has RAYCLUSTER_NODE=<prefix>...

    Every command of a localhost node carries that marker (cluster id/node id),
    so an empty answer means nothing of the cluster or node is running."""
    found = []
    want = b"RAYCLUSTER_NODE=" + prefix.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            if state in (b"Z", b"X"):
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(want) for e in env):
            found.append(int(entry))
    return found
