"""Fixtures for the autoscaler's end-to-end tests: a localhost cluster with
real Ray, `raycluster monitor --json` in the background, and its event stream.

Every test gets its own RAYCLUSTER_HOME; whatever it brought up is taken down
again (monitor first, then the cluster)."""
import json
import pathlib
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import ROOT, CliEnv, wait_for  # noqa: E402

EXAMPLE = ROOT / "examples" / "localhost" / "autoscale.yaml"


class Monitor:
    """`raycluster monitor CONFIG --json` running in the background."""

    def __init__(self, env, config, interval):
        self.out_path = env.tmp / "monitor.jsonl"
        self.err_path = env.tmp / "monitor.err"
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [env.bin, "monitor", str(config), "--interval", str(interval), "--json", "-v"],
            env=env.env, stdout=self._out, stderr=self._err, text=True)

    def events(self):
        out = []
        with open(self.out_path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
        return out

    def of(self, kind, **match):
        return [e for e in self.events() if e["event"] == kind and
                all(e.get(k) == v for k, v in match.items())]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._err.close()
        return self.proc.returncode

    def describe(self):
        return ("monitor events:\n" + self.out_path.read_text() +
                "\nmonitor stderr:\n" + self.err_path.read_text())


class Env(CliEnv):
    run_timeout = 900

    def __init__(self, tmp_path):
        super().__init__(tmp_path)
        self.monitors = []

    def config(self):
        path = self.tmp / "autoscale.yaml"
        # These tests run `raycluster monitor` here: no autoscaler on the head.
        path.write_text(EXAMPLE.read_text() + "\nautoscaler: local\n")
        self.configs.append(path)
        return path

    def monitor(self, config, interval=1):
        m = Monitor(self, config, interval)
        self.monitors.append(m)
        return m

    def ray_address(self, config, name="localhost-autoscale"):
        head = self.run("get-head-ip", config).stdout.strip()
        port = json.loads((self.home / name / "localhost.json").read_text())["gcs_port"]
        return f"{head}:{port}"

    def driver(self, script, *args, timeout=600):
        """Runs a Ray driver with the project's Python; returns its last JSON line."""
        proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"driver exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        return [json.loads(l) for l in lines]

    def wait_for(self, predicate, timeout, what, monitor=None, interval=0.5):
        def monitor_alive():
            if monitor is not None and monitor.proc.poll() is not None:
                raise AssertionError(f"the monitor exited ({monitor.proc.returncode}) while "
                                     f"waiting for {what}\n{monitor.describe()}")
        try:
            return wait_for(predicate, timeout, what, interval=interval, still_valid=monitor_alive)
        except AssertionError as e:
            if monitor is None or str(e).startswith("the monitor exited"):
                raise
            raise AssertionError(f"{e}\n{monitor.describe()}") from None


@pytest.fixture
def rc(tmp_path):
    env = Env(tmp_path)
    yield env
    for m in env.monitors:
        m.stop()
    env.down_all()
