"""`provider: local` end to end: existing machines (sshd on loopback) are set
up over SSH by `up`, reached by `exec`, listed by `status`, and `down` stops
Ray on them (provider.stop_commands) without any machine going away."""
import http.server
import json
import signal
import subprocess
import threading
import urllib.request

from rctest import raycluster_binary
from sshd import free_port


def onprem_config(cli, m, user, workers, extra=""):
    worker_list = ", ".join(workers)
    return cli.config(f"""
        cluster_name: onprem-test
        provider:
          type: local
          head_ip: {m.ips[0]}
          worker_ips: [{worker_list}]
          stop_commands:
            - echo "stop $RAY_HEAD_IP" >> ~/stop.log
        auth:
          ssh_user: {user}
          ssh_private_key: {m.key}
          ssh_port: {m.port}
        setup_commands:
          - echo "setup $(echo $SSH_CONNECTION | cut -d' ' -f3)" >> ~/setup.log
        head_start_ray_commands:
          - echo "head $RAY_HEAD_IP" >> ~/start.log
        worker_start_ray_commands:
          - echo "worker $RAY_HEAD_IP" >> ~/start.log
        {extra}
        """)


def status(cli, cfg):
    return json.loads(cli.run("status", cfg, "--json").stdout)


def test_up_exec_status_down_on_machines(cli, machines, user):
    m = machines(4)
    head, workers = m.ips[0], m.ips[1:]
    cfg = onprem_config(cli, m, user, workers)

    cli.run("up", cfg, "-y")
    # Each machine ran its own setup (the command saw the address it was
    # reached at) and the right start commands, with the head's address.
    for ip in m.ips:
        assert m.read(ip, "setup.log") == f"setup {ip}\n"
    assert m.read(head, "start.log") == f"head {head}\n"
    for ip in workers:
        assert m.read(ip, "start.log") == f"worker {head}\n"

    st = status(cli, cfg)
    nodes = {n["id"]: n for n in st["nodes"]}
    assert set(nodes) == set(m.ips)
    assert {n["status"] for n in nodes.values()} == {"up-to-date"}
    assert nodes[head]["kind"] == "head"
    assert cli.run("get-head-ip", cfg).stdout.strip() == head
    assert sorted(cli.run("get-worker-ips", cfg).stdout.split()) == sorted(workers)

    out = cli.run("exec", cfg, "--", "echo", "on", "$(echo $SSH_CONNECTION | cut -d' ' -f3)")
    assert f"on {head}" in out.stdout

    # Host keys are pinned: one line per machine in the cluster's known_hosts.
    known = (cli.tmp / "state" / "onprem-test" / "known_hosts").read_text()
    for ip in m.ips:
        assert f"[{ip}]:{m.port}" in known

    # A second `up` with nothing changed does no setup again.
    cli.run("up", cfg, "-y")
    for ip in m.ips:
        assert m.read(ip, "setup.log") == f"setup {ip}\n"

    cli.run("down", cfg, "-y")
    for ip in m.ips:
        assert m.read(ip, "stop.log") == "stop \n"
        assert m.servers[ip].running  # the machine itself stays
    assert status(cli, cfg)["nodes"] == []


def test_scale_claims_and_releases_machines(cli, machines, user):
    m = machines(4)
    head, workers = m.ips[0], m.ips[1:]
    cfg = onprem_config(cli, m, user, workers, extra="""
        available_node_types:
          local.cluster.node:
            resources: {}
            node_config: {}
            min_workers: 0
            max_workers: 3
            initial_workers: 1
        head_node_type: local.cluster.node
        """)
    cli.run("up", cfg, "-y")
    assert len(status(cli, cfg)["nodes"]) == 2
    cli.run("scale", cfg, "--workers", "3", "-y")
    ips = {n["id"] for n in status(cli, cfg)["nodes"]}
    assert ips == set(m.ips)
    # Asking for more machines than the config lists is refused, by name.
    r = cli.run("scale", cfg, "--workers", "4", "-y", check=False)
    assert r.returncode != 0
    assert "max_workers" in r.stderr or "worker_ips" in r.stderr
    cli.run("scale", cfg, "--workers", "1", "-y")
    kept = [n["id"] for n in status(cli, cfg)["nodes"] if n["kind"] == "worker"]
    assert len(kept) == 1
    stopped = [ip for ip in workers if m.read(ip, "stop.log")]
    assert len(stopped) == 2 and kept[0] not in stopped
    cli.run("down", cfg, "-y")


def test_down_reports_unreachable_machine_and_retries(cli, machines, user):
    m = machines(3)
    head, workers = m.ips[0], m.ips[1:]
    cfg = onprem_config(cli, m, user, workers)
    cli.run("up", cfg, "-y")
    m.servers[workers[0]].stop()
    r = cli.run("down", cfg, "-y", check=False)
    assert r.returncode != 0
    assert workers[0] in r.stderr
    # The reachable machines were released; the unreachable one stays claimed.
    assert [n["id"] for n in status(cli, cfg)["nodes"]] == [workers[0]]
    assert m.read(head, "stop.log") and m.read(workers[1], "stop.log")
    m.servers[workers[0]].start()
    cli.run("down", cfg, "-y")
    assert status(cli, cfg)["nodes"] == []
    assert m.read(workers[0], "stop.log")


def test_failed_setup_names_machine_and_command(cli, machines, user):
    m = machines(2)
    cfg = onprem_config(cli, m, user, m.ips[1:], extra="""
        worker_setup_commands:
          - echo broken-on-purpose >&2; exit 3
        """)
    r = cli.run("up", cfg, "-y", "--command-timeout", "30", check=False)
    assert r.returncode != 0
    assert m.ips[1] in r.stderr
    assert "exit 3" in r.stderr and "exited 3" in r.stderr
    assert "broken-on-purpose" in r.stderr
    st = {n["id"]: n["status"] for n in status(cli, cfg)["nodes"]}
    assert st[m.ips[1]] == "update-failed"
    assert st[m.ips[0]] == "up-to-date"
    cli.run("down", cfg, "-y")


def test_changed_host_key_is_refused(cli, machines, user):
    m = machines(1)
    cfg = onprem_config(cli, m, user, [])
    cli.run("up", cfg, "-y")
    srv = m.servers[m.ips[0]]
    srv.stop()
    subprocess.run(["rm", "-f", srv.host_key, srv.host_key + ".pub"], check=True)
    srv2 = type(srv)(srv.workdir, addresses=srv.addresses, port=srv.port,
                     authorized_keys=srv.authorized_keys, env=srv.env).start()
    m.servers[m.ips[0]] = srv2
    r = cli.run("exec", cfg, "--", "true", check=False)
    assert r.returncode != 0
    assert m.ips[0] in r.stderr
    assert srv2.host_key_fingerprint() in r.stderr


def test_config_mistakes_are_named(cli, machines, user):
    m = machines(2)
    cfg = onprem_config(cli, m, user, [m.ips[1], m.ips[1]])
    r = cli.run("up", cfg, "-y", check=False)
    assert r.returncode != 0
    assert "worker_ips" in r.stderr and m.ips[1] in r.stderr
    assert str(cfg) in r.stderr


def test_dashboard_tunnel_carries_http_to_the_head(cli, machines, user, tmp_path):
    m = machines(1)
    cfg = onprem_config(cli, m, user, [])
    cli.run("up", cfg, "-y")
    # A web server on the head's loopback only, as Ray's dashboard listens.
    site = tmp_path / "site"
    site.mkdir()
    (site / "marker.txt").write_text("through the tunnel\n")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(site), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        local = free_port()
        proc = subprocess.Popen([raycluster_binary(), "dashboard", str(cfg),
                                 "--remote-port", str(server.server_port), "--port", str(local)],
                                env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            url = proc.stdout.readline().strip()
            assert url == f"http://127.0.0.1:{local}", proc.stderr.read() if not url else url
            body = urllib.request.urlopen(url + "/marker.txt", timeout=10).read().decode()
            assert body == "through the tunnel\n"
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "1 connection(s)" in err
    finally:
        server.shutdown()
    cli.run("down", cfg, "-y")


def test_attach_gives_a_shell_on_the_head(cli, machines, user):
    m = machines(2)
    cfg = onprem_config(cli, m, user, m.ips[1:])
    cli.run("up", cfg, "-y")
    r = subprocess.run([raycluster_binary(), "attach", str(cfg)],
                       env=cli.env, input="echo attached-$((6*7)) $HOME\nexit 5\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 5, r.stderr
    assert f"attached-42 {m.home(m.ips[0])}" in r.stdout
    r = subprocess.run([raycluster_binary(), "attach", str(cfg), "--node",
                        m.ips[1]], env=cli.env, input="echo on-$HOME\nexit\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"on-{m.home(m.ips[1])}" in r.stdout
    cli.run("down", cfg, "-y")


def test_head_autoscaler_bundle_is_sent_once_and_runs_on_the_head(cli, machines, user):
    """`up` sends the head a self-contained bundle over SFTP (checked by hash:
    a second `up` sends nothing), the spec without secrets and the workers'
    key, and starts the autoscaler there under its supervisor loop; its status
    file shows ticks; `down` stops it before it releases any machine."""
    import hashlib
    import time

    m = machines(2)
    head = m.ips[0]
    cfg = onprem_config(cli, m, user, m.ips[1:], extra="""
        available_node_types:
          local.cluster.node:
            resources: {}
            node_config: {}
            min_workers: 0
            max_workers: 1
            initial_workers: 0
        head_node_type: local.cluster.node
        """)
    up = cli.run("up", cfg, "-y")
    up_returned = time.time()
    assert "head autoscaler: bundle sent (" in up.stdout + up.stderr
    folder = m.home(head) / ".raycluster" / "autoscaler" / "onprem-test"
    bundle = folder / "bundle"

    # The manifest is sha256sum's format and matches every file sent.
    names = []
    for line in (bundle / "MANIFEST").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == digest, name
        names.append(name)
    assert names[0] == "raycluster"
    # The binary under test (without its debug sections), and it runs there.
    version = subprocess.run([raycluster_binary(), "--version"], capture_output=True, text=True).stdout
    sent = subprocess.run([str(bundle / "raycluster"), "--version"], capture_output=True, text=True,
                          env={"LD_LIBRARY_PATH": str(bundle / "lib")}).stdout
    assert sent == version and sent
    libs = {n.split("/", 1)[1] for n in names[1:]}
    # What ldd says the binary loads, less the C library's own parts, is there.
    ldd = subprocess.run(["ldd", raycluster_binary()], capture_output=True, text=True).stdout
    loaded = {l.split()[0] for l in ldd.splitlines() if "=>" in l}
    assert any(l.startswith("libyaml-cpp") for l in libs) and any(l.startswith("libssh") for l in libs)
    assert not any(l.startswith(("libc.so", "libm.so", "ld-linux")) for l in libs)
    assert libs <= loaded
    size = sum((bundle / n).stat().st_size for n in names)
    print(f"\n[figures] head autoscaler bundle: {{\"files\": {len(names)}, \"bytes\": {size}}}")

    # The workers' key (0600), and a spec that names it but holds no secret.
    key = folder / "ssh_key"
    assert key.read_bytes() == open(m.key, "rb").read()
    assert (key.stat().st_mode & 0o777) == 0o600
    spec = (folder / "cluster.yaml").read_text()
    assert open(m.key).read().strip().splitlines()[1] not in spec
    assert json.loads(spec)["auth"]["ssh_private_key"].endswith("/onprem-test/ssh_key")

    # It runs there: its status file shows ticks, and `status` says so.
    deadline = time.time() + 60
    while time.time() < deadline:
        st = json.loads((folder / "status.json").read_text()) if (folder / "status.json").exists() else {}
        if st.get("ticks", 0) >= 1:
            break
        time.sleep(0.1)
    assert st.get("ticks", 0) >= 1, (folder / "monitor.log").read_text()
    print(f"\n[figures] on-prem head autoscaler: first tick {st['last_tick'] - up_returned:.2f} s "
          f"after `up` returned")
    a = status(cli, cfg)["autoscaler"]
    assert a["site"] == "head" and a["alive"] and a["service"] == "loop", a
    assert a["report"]["ticks"] >= 1
    pid = int((folder / "monitor.pid").read_text())
    assert str(bundle / "raycluster") in open(f"/proc/{pid}/cmdline").read().replace("\0", " ")

    # A second `up`: nothing sent, nothing restarted.
    before = {p: p.stat().st_mtime_ns for p in bundle.rglob("*")}
    again = cli.run("up", cfg, "-y")
    assert "bundle sent" not in again.stdout + again.stderr
    assert "head autoscaler unchanged" in again.stdout + again.stderr
    assert {p: p.stat().st_mtime_ns for p in bundle.rglob("*")} == before
    assert int((folder / "monitor.pid").read_text()) == pid

    down = cli.run("down", cfg, "-y")
    lines = (down.stdout + down.stderr).splitlines()
    stop_at = next(i for i, l in enumerate(lines) if "stopping the head autoscaler" in l)
    end_at = next(i for i, l in enumerate(lines) if "terminating" in l)
    assert stop_at < end_at, lines
    assert not (folder / "supervisor.pid").exists()
    try:  # gone, or a zombie nobody reaped yet
        alive = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        alive = False
    assert not alive
