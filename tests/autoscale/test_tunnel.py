"""The autoscaler through an SSH tunnel, on real Ray.

An on-prem cluster (`provider: local`): its machines are sshd servers on
loopback addresses of their own, and Ray runs on them as the start commands
say. On-prem heads offer no direct address, so `raycluster monitor` reads the
head's /api/cluster_status only through an SSH tunnel to the head's
127.0.0.1:<dashboard port>, the port the head's start command gives. A
request-resources puts demand on the head; the monitor claims the spare
machine, sets it up over SSH, Ray on it joins the head, and once the request
is withdrawn and the worker has idled it is let go (its stop commands end its
Ray) while the head stays."""
import getpass
import json
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from rctest import ROOT
from sshd import Sshd, free_port, make_user_key

HERE = pathlib.Path(__file__).resolve().parent
RAY = ROOT / ".venv" / "bin" / "ray"
END = f"{sys.executable} {HERE / 'end_marked.py'}"
# The machine's own address, as the node sees it.
SELF_IP = "$(echo $SSH_CONNECTION | cut -d' ' -f3)"

DRIVER = r"""
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
alive = [n for n in ray.nodes() if n["Alive"]]
print(json.dumps({"nodes": {n["NodeManagerAddress"]: n["Resources"] for n in alive}}))
"""


@pytest.fixture
def machines(tmp_path):
    key, pub = make_user_key(str(tmp_path / "key"))
    block = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}."
    ips = [block + "1", block + "2"]
    port = free_port()
    servers = []
    for ip in ips:
        home = tmp_path / "machines" / ip
        home.mkdir(parents=True)
        servers.append(Sshd(str(tmp_path / "sshd" / ip), addresses=[ip], port=port,
                            authorized_keys=pub, env={"HOME": str(home)}).start())
    # Ray's socket paths must stay short: its temp dir is not under tmp_path.
    ray_tmp = tempfile.mkdtemp(prefix="rc-tun-", dir="/tmp")
    yield {"ips": ips, "port": port, "key": key, "block": block, "ray_tmp": ray_tmp}
    # Whatever a failed test left running of these machines' Ray.
    subprocess.run([sys.executable, str(HERE / "end_marked.py"), block])
    for s in servers:
        s.close()
    shutil.rmtree(ray_tmp, ignore_errors=True)


def tunnel_config(rc, m):
    gcs, dashboard, client, agent = (free_port() for _ in range(4))
    low = free_port()
    text = textwrap.dedent(f"""
        cluster_name: tunnel-scale
        # This test runs `raycluster monitor` here, through the tunnel.
        autoscaler: local
        max_workers: 1
        idle_timeout_minutes: 0.25
        provider:
          type: local
          head_ip: {m["ips"][0]}
          worker_ips: [{m["ips"][1]}]
          stop_commands:
            - {END} {SELF_IP}
        auth:
          ssh_user: {getpass.getuser()}
          ssh_private_key: {m["key"]}
          ssh_port: {m["port"]}
        available_node_types:
          head:
            resources: {{CPU: 1}}
            node_config: {{}}
            min_workers: 0
            max_workers: 0
          worker:
            resources: {{CPU: 2, tunnel_slot: 1}}
            node_config: {{}}
            min_workers: 0
            max_workers: 1
        head_node_type: head
        setup_commands: []
        head_start_ray_commands:
          - >-
            export RC_TEST_MACHINE={SELF_IP};
            {RAY} start --head --node-ip-address=$RC_TEST_MACHINE --port={gcs}
            --dashboard-host=127.0.0.1 --dashboard-port={dashboard}
            --ray-client-server-port={client} --dashboard-agent-listen-port={agent}
            --min-worker-port={low} --max-worker-port={low + 40}
            --temp-dir={m["ray_tmp"]} --object-store-memory=80000000 --disable-usage-stats
        worker_start_ray_commands:
          - >-
            export RC_TEST_MACHINE={SELF_IP};
            {RAY} start --address=$RAY_HEAD_IP:{gcs} --node-ip-address=$RC_TEST_MACHINE
            --dashboard-agent-listen-port={free_port()}
            --min-worker-port={low + 50} --max-worker-port={low + 90}
            --object-store-memory=80000000 --disable-usage-stats
        """).lstrip("\n")
    path = rc.tmp / "tunnel.yaml"
    path.write_text(text)
    rc.configs.append(path)
    return path, gcs, dashboard


def ray_nodes(rc, address):
    return rc.driver(DRIVER, address, timeout=120)[-1]["nodes"]


@pytest.mark.once
def test_monitor_reads_the_head_through_ssh_and_scales_machines(rc, machines):
    head_ip, spare = machines["ips"]
    cfg, gcs, dashboard = tunnel_config(rc, machines)
    rc.run("up", cfg, "-y")
    assert [n["kind"] for n in rc.status(cfg)["nodes"]] == ["head"]

    mon = rc.monitor(cfg, interval=1)
    tunnels = rc.wait_for(lambda: mon.of("tunnel"), 60, "the tunnel to the head", mon)
    assert f"127.0.0.1:{dashboard} over SSH" in tunnels[0]["detail"], tunnels
    # The tunnel's local end is not the head's dashboard port itself.
    assert not tunnels[0]["detail"].startswith(f"http://127.0.0.1:{dashboard} ")
    rc.wait_for(lambda: mon.of("demand"), 60, "the monitor's first look at the load", mon)
    assert not mon.of("load_error"), mon.describe()

    rc.run("request-resources", cfg, "--bundles", json.dumps([{"CPU": 2, "tunnel_slot": 1}]))
    launch = rc.wait_for(lambda: mon.of("launch"), 60, "a launch", mon)[0]
    assert launch["reason"] == "request_resources"
    assert launch["node_type"] == "worker" and launch["count"] == 1
    assert launch["node_ids"] == [spare]  # on-prem: the node is the machine
    rc.wait_for(lambda: mon.of("node_ready"), 300, "the worker to be set up", mon)

    nodes = ray_nodes(rc, f"{head_ip}:{gcs}")
    assert set(nodes) == {head_ip, spare}
    assert nodes[spare]["tunnel_slot"] == 1 and nodes[spare]["CPU"] == 2
    assert nodes[head_ip]["CPU"] == 1

    # Withdrawn, the idle worker goes after the 15 s timeout; the head stays.
    rc.run("request-resources", cfg, "--cpus", "0")
    term = rc.wait_for(lambda: mon.of("terminate"), 120, "the idle worker to go", mon)[0]
    assert term["reason"] == "idle" and term["node_ids"] == [spare]
    assert [n["kind"] for n in rc.status(cfg)["nodes"]] == ["head"]
    assert set(rc.wait_for(lambda: (lambda n: n if len(n) == 1 else None)(
        ray_nodes(rc, f"{head_ip}:{gcs}")), 60, "Ray to see the worker gone")) == {head_ip}
    assert not mon.of("launch_failed") and not mon.of("setup_failed"), mon.describe()
    assert mon.stop() == 130
