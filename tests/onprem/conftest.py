"""Fixtures for the on-prem (`provider: local`) suite: machines are real
OpenSSH servers on loopback addresses of their own, each with its own home."""
import getpass
import os
import pathlib
import random
import signal
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import raycluster_binary  # noqa: E402
from sshd import Sshd, free_port, make_user_key  # noqa: E402


class Machines:
    """n machines 127.X.Y.1..n, all serving SSH on one port (like a network)."""

    def __init__(self, tmp_path, n):
        self.tmp = tmp_path
        self.key, pub = make_user_key(str(tmp_path / "key"))
        block = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        self.ips = [f"{block}.{i + 1}" for i in range(n)]
        self.port = free_port()
        self.servers = {}
        for ip in self.ips:
            home = tmp_path / "machines" / ip
            home.mkdir(parents=True)
            self.servers[ip] = Sshd(str(tmp_path / "sshd" / ip), addresses=[ip], port=self.port,
                                    authorized_keys=pub, env={"HOME": str(home)}).start()

    def home(self, ip):
        return self.tmp / "machines" / ip

    def read(self, ip, name):
        p = self.home(ip) / name
        return p.read_text() if p.exists() else ""

    def close(self):
        for s in self.servers.values():
            s.close()
        # A test that failed before `down` leaves a head autoscaler running
        # (it outlives the SSH session): end it, by its folder on a machine.
        mine = str(self.tmp / "machines") + "/"
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if mine in argv and "/.raycluster/autoscaler/" in argv:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def machines(tmp_path):
    made = []

    def make(n):
        m = Machines(tmp_path, n)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


class Cli:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.env = dict(os.environ)
        self.env["RAYCLUSTER_HOME"] = str(tmp_path / "state")
        self.env.pop("SSH_AUTH_SOCK", None)

    def config(self, text, name="cluster.yaml"):
        path = self.tmp / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def run(self, *args, check=True, timeout=300):
        proc = subprocess.run([raycluster_binary(), *map(str, args)], env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"raycluster {' '.join(map(str, args))} exited "
                                 f"{proc.returncode}\nstdout:\n{proc.stdout}\n"
                                 f"stderr:\n{proc.stderr}")
        return proc


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


@pytest.fixture
def user():
    return getpass.getuser()
