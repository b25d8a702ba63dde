"""Fixtures for the containers suite: podman with a test-local containers.conf
(runc, cgroupfs, no default ulimits), an image built here from this
machine's files (nothing is pulled), and an on-prem machine (sshd on a
loopback address) whose host is this machine."""
import getpass
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tarfile
import textwrap

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from rctest import raycluster_binary  # noqa: E402
from sshd import Sshd, free_port, make_user_key  # noqa: E402

CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
"""


class Podman:
    def __init__(self, conf):
        # A missing podman is a failure: CI installs it (scripts/setup.sh).
        self.bin = shutil.which("podman")
        assert self.bin, "podman is not installed (scripts/setup.sh installs it)"
        self.env = dict(os.environ, CONTAINERS_CONF=conf)

    def __call__(self, *args, check=True):
        p = subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True,
                           timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p


# Left out of the image's /etc: nothing in it needs them.
PRIVATE = {"shadow", "shadow-", "gshadow", "gshadow-", "ssh", "private"}


def build_rootfs_tar(tmp_path):
    """A root file system of folders and merged-/usr links plus a copy of
    /etc; /usr and the project's venv are bound read-only at run time."""
    root = tmp_path / "rootfs"
    for d in ["usr", "tmp", "root", "proc", "sys", "dev", "run", "var/tmp", "home"]:
        (root / d).mkdir(parents=True)
    os.chmod(root / "tmp", 0o1777)
    for name in ["bin", "lib", "lib64", "sbin"]:
        if os.path.islink("/" + name):
            os.symlink(os.readlink("/" + name).lstrip("/"), root / name)
    shutil.copytree("/etc", root / "etc", symlinks=True, ignore_dangling_symlinks=True,
                    ignore=lambda d, names: [n for n in names
                                             if n in PRIVATE or
                                             not os.access(os.path.join(d, n), os.R_OK)])
    venv_bin = os.path.join(os.path.realpath(sys.prefix), "bin")
    (root / "root" / ".bashrc").write_text(f"export IN_IMAGE_BASHRC=1 PATH={venv_bin}:$PATH\n")
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root, arcname=".")
    return tar


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("podman")
    conf = tmp / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    pm = Podman(str(conf))
    info = pm("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}").stdout
    assert info.split() == ["runc", "cgroupfs"], info
    pm.image = f"localhost/raycluster-test-{random.randint(0, 1 << 30):x}:1"
    pm("import", str(build_rootfs_tar(tmp)), pm.image)
    pm.conf = str(conf)
    yield pm
    pm("rmi", "-f", pm.image, check=False)


class Machine:
    """One on-prem machine: sshd on its own loopback address; its sessions
    reach this machine's podman with the test's containers.conf."""

    def __init__(self, tmp_path, podman):
        self.key, pub = make_user_key(str(tmp_path / "key"))
        self.ip = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.1"
        self.port = free_port()
        self.home = tmp_path / "machine"
        self.home.mkdir()
        self.sshd = Sshd(str(tmp_path / "sshd"), addresses=[self.ip], port=self.port,
                         authorized_keys=pub,
                         env={"HOME": str(self.home), "CONTAINERS_CONF": podman.conf}).start()


@pytest.fixture
def machine(tmp_path, podman):
    m = Machine(tmp_path, podman)
    yield m
    m.sshd.close()


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
