"""The container commands raycluster runs, checked against Ray's own builders
(ray.autoscaler._private.docker and command_runner) called with the same
arguments."""
import os
import re
import shlex
import subprocess

import pytest
from ray.autoscaler._private import command_runner as ray_runner
from ray.autoscaler._private import docker as ray_docker
from ray.autoscaler.sdk import get_docker_host_mount_location
from ray._private import ray_constants


def ours(*args):
    return subprocess.run([os.environ["RAYCLUSTER_COMMANDS_PRINT"], *args], check=True,
                          capture_output=True, text=True).stdout


ODD = ["plain", "", "with space", "it's", "a\"b", "$HOME", "x;y", "back\\slash", "new\nline",
       "héllo", "~/path", "a=b,c:d/e.f@g%h+i-j"]


@pytest.mark.parametrize("s", ODD)
def test_quote_is_shlex_quote(s):
    assert ours("quote", s) == shlex.quote(s)


@pytest.mark.parametrize("cmd", ["ray start --head", "echo 'it''s' \"$X\"", "a && b; c | d"])
def test_login_shell_is_rays(cmd):
    assert ours("login", cmd) == " ".join(ray_runner._with_interactive(cmd))


@pytest.mark.parametrize("runtime", ["docker", "podman"])
@pytest.mark.parametrize("interactive", [False, True])
@pytest.mark.parametrize("env", [[], ["RAY_HEAD_IP"], ["A", "B_2"]])
def test_exec_is_with_docker_exec(runtime, interactive, env):
    for cmd in ["uptime", " ".join(ray_runner._with_interactive("echo \"it's\" $HOME"))]:
        expected = ray_docker.with_docker_exec([cmd], container_name="ray_container",
                                               docker_cmd=runtime, env_vars=env,
                                               with_interactive=interactive)[0]
        assert ours("exec", runtime, "ray_container", cmd, "1" if interactive else "0",
                    *env) == expected


@pytest.mark.parametrize("cluster", ["default", "my-cluster"])
def test_host_mount_prefix_is_rays(cluster):
    assert ours("prefix", cluster) == get_docker_host_mount_location(cluster)


@pytest.mark.parametrize("mounts,options", [
    ([], []),
    (["~/code", "/opt/data"], ["--cpus=2"]),
    (["~/a/b"], ["-v /usr:/usr:ro", "--shm-size='1g'", "--label raycluster-run=abc"]),
])
@pytest.mark.parametrize("home", ["/root", "/home/ray"])
def test_run_is_docker_start_cmds(mounts, options, home):
    prefix = get_docker_host_mount_location("c1")
    expected = ray_docker.docker_start_cmds("ubuntu", "rayproject/ray:2.9", dict.fromkeys(mounts),
                                            "ray_container", options, "c1", home, "podman")
    assert ours("run", "podman", "rayproject/ray:2.9", "ray_container", prefix, home, *mounts,
                "--", *options) == expected


def test_shm_size_is_rays_rounded_down():
    kib = 16_000_000
    meminfo = f"MemTotal: 32000000 kB\nMemAvailable:   {kib} kB\nSwapTotal: 0 kB\n"
    got = ours("shm", meminfo)
    m = re.fullmatch(r"--shm-size='(\d+)b'", got)
    assert m, got
    ray_bytes = min(kib * 1024 * ray_constants.DEFAULT_OBJECT_STORE_MEMORY_PROPORTION * 1.1,
                    ray_constants.DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES)
    assert int(m.group(1)) == int(ray_bytes)
    # Capped as Ray caps it.
    huge = ours("shm", "MemAvailable: 1000000000000 kB\n")
    assert huge == f"--shm-size='{int(ray_constants.DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES)}b'"
    assert ours("shm", "MemTotal: 1 kB\n") == ""
