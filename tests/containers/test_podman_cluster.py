"""`docker:` acted on with a real runtime: an on-prem machine (sshd on
loopback, this machine as its host) runs its Ray inside a podman container
made from a locally built image. Initialization commands run on the host,
setup and start commands and `exec` in the container; a changed run_options
makes the next `up` replace the container; `attach` opens a shell in it;
`down` removes it."""
import json
import os
import random
import shutil
import subprocess
import sys

import pytest
from rctest import raycluster_binary
from sshd import free_port

VENV = os.path.realpath(sys.prefix)  # the project's venv, bound into the container read-only


def config(cli, m, user, podman, name, mount_dir, run_label):
    return cli.config(f"""
        cluster_name: {name}
        provider:
          type: local
          head_ip: {m.ip}
          worker_ips: []
          stop_commands: ["true"]
        auth:
          ssh_user: {user}
          ssh_private_key: {m.key}
          ssh_port: {m.port}
        docker:
          image: {podman.image}
          container_name: {name}
          use_podman: true
          pull_before_run: false
          run_options:
            - -v /usr:/usr:ro
            - -v {VENV}:{VENV}:ro
            - --label rc-test-run={run_label}
        file_mounts:
          ~/mounted: {mount_dir}
        initialization_commands:
          - test ! -e /run/.containerenv && echo host >> ~/init.log
        setup_commands:
          - test -e /run/.containerenv && echo "$IN_IMAGE_BASHRC" > /tmp/setup-ran
        head_start_ray_commands:
          - {VENV}/bin/ray stop
          - >-
            {VENV}/bin/ray start --head --port={free_port()} --num-cpus=1
            --include-dashboard=false --disable-usage-stats
        """)


def container(podman, name):
    p = podman("inspect", "--format", "{{json .}}", name, check=False)
    if p.returncode != 0:
        return None
    data = json.loads(p.stdout)
    return data[0] if isinstance(data, list) else data


def processes_in(podman, name):
    return podman("top", name, "args").stdout


# Sanitizer builds check the container commands in test_commands.py; the cluster
# in podman spends its time in podman and Ray, not in our code.
@pytest.mark.once
def test_cluster_in_a_podman_container(cli, machine, user, podman, tmp_path):
    name = f"rc-ctr-{random.randint(0, 1 << 24):x}"
    mount_dir = tmp_path / "to-mount"
    mount_dir.mkdir()
    (mount_dir / "hello.txt").write_text("from the file mounts\n")
    cfg = config(cli, machine, user, podman, name, mount_dir, 1)
    try:
        cli.run("up", cfg, "-y")
        c = container(podman, name)
        assert c and c["State"]["Running"], f"no running container {name}"
        assert c["Config"]["Labels"]["rc-test-run"] == "1"
        first_id = c["Id"]

        # Initialization commands ran on the host (the machine's home), the
        # setup commands in the container, in a login shell that read the
        # image's ~/.bashrc.
        assert (machine.home / "init.log").read_text() == "host\n"
        assert podman("exec", name, "cat", "/tmp/setup-ran").stdout == "1\n"

        # Ray's processes are the container's.
        top = processes_in(podman, name)
        assert "gcs_server" in top and "raylet" in top, top

        # exec runs in the container; file mounts are bound in at the image's ~.
        out = cli.run("exec", cfg, "--", "test -e /run/.containerenv && echo inside && "
                      "cat ~/mounted/hello.txt && echo $HOME").stdout
        assert "inside\nfrom the file mounts\n/root\n" in out, out

        # Nothing changed: the container stays.
        cli.run("up", cfg, "-y")
        assert container(podman, name)["Id"] == first_id

        # Changed run options: the next `up` replaces it, and Ray runs in the new one.
        cfg = config(cli, machine, user, podman, name, mount_dir, 2)
        cli.run("up", cfg, "-y")
        c = container(podman, name)
        assert c and c["State"]["Running"] and c["Id"] != first_id
        assert c["Config"]["Labels"]["rc-test-run"] == "2"
        top = processes_in(podman, name)
        assert "gcs_server" in top and "raylet" in top, top
        assert (machine.home / "init.log").read_text() == "host\nhost\n"

        # attach opens a shell in the container.
        r = subprocess.run([raycluster_binary(), "attach", str(cfg)], env=cli.env,
                           input="test -e /run/.containerenv && echo attached-$((6*7)) $HOME\n"
                                 "exit 5\n",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 5, r.stderr
        assert "attached-42 /root" in r.stdout, r.stdout

        cli.run("down", cfg, "-y")
        assert container(podman, name) is None
    finally:
        podman("rm", "-f", name, check=False)
        shutil.rmtree(f"/tmp/ray_tmp_mount/{name}", ignore_errors=True)
