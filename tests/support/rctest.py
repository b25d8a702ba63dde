"""Helpers shared by the Python-driven test suites: the command line under
test in a state folder of its own (CliEnv, which the suites' fixtures build
on), waiting for a condition, SSH keys for emulated machines, and the check
that nothing of a localhost cluster still runs."""
import json
import os
import pathlib
import subprocess
import time

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


def wait_for(predicate, timeout, what, interval=0.2, still_valid=None):
    """predicate()'s first true value, asked every `interval` seconds; an
    AssertionError naming `what` when `timeout` seconds pass first (a hang
    guard: a test's time limit, never a performance one). still_valid(), if
    given, is asked between tries and raises to stop early (it may add what
    it knows to the message)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if still_valid is not None:
            still_valid()
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ssh_key(tmp_path):
    """A fresh passphrase-less ed25519 key at tmp_path/id_ed25519; returns
    (private key path, public key text)."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key, (tmp_path / "id_ed25519.pub").read_text()


class CliEnv:
    """`raycluster` with a RAYCLUSTER_HOME of its own (tmp_path/state) and the
    project's .venv first on PATH. `base` is the environment to start from
    (default: this process's); a suite that talks to an emulator passes one
    without the cloud's variables. run_timeout: run()'s default limit.
    configs: the config files of clusters a test may leave up, which
    down_all() takes down (a fixture's finalizer calls it)."""

    run_timeout = 600

    def __init__(self, tmp_path, base=None):
        self.tmp = tmp_path
        self.home = tmp_path / "state"
        self.home.mkdir()
        self.bin = raycluster_binary()
        self.env = dict(os.environ if base is None else base)
        self.env["RAYCLUSTER_HOME"] = str(self.home)
        self.env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"
        self.configs = []

    def run(self, *args, check=True, timeout=None, input=None):
        proc = subprocess.run([self.bin, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout or self.run_timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"raycluster {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def popen(self, *args):
        return subprocess.Popen([self.bin, *map(str, args)], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def status(self, config):
        return json.loads(self.run("status", config, "--json").stdout)

    def cluster_dir(self, name):
        return self.home / name

    def cluster_id(self, name):
        return json.loads((self.cluster_dir(name) / "cluster.json").read_text())["cluster_id"]

    def down_all(self):
        """Takes down whatever the test left up of self.configs."""
        for cfg in self.configs:
            self.run("down", cfg, "-y", check=False)
