"""File mounts as Ray's rsync copies them, on real machines (sshd on
loopback): rsync_exclude and rsync_filter leave paths out, the head's
cluster_synced_files reach the workers, and with
file_mounts_sync_continuously a changed file reaches the running nodes on
the next `up` without any setup or start command running again."""
import json


def config(cli, m, user, project):
    return cli.config(f"""
        cluster_name: sync-test
        autoscaler: off
        provider:
          type: local
          head_ip: {m.ips[0]}
          worker_ips: [{m.ips[1]}]
          stop_commands: [echo stop]
        auth:
          ssh_user: {user}
          ssh_private_key: {m.key}
          ssh_port: {m.port}
        file_mounts:
          ~/project: {project}
        rsync_exclude: ["**/.git", "*.log"]
        rsync_filter: [.gitignore]
        cluster_synced_files: [~/synced]
        file_mounts_sync_continuously: true
        setup_commands:
          - echo setup >> ~/setup.log
        head_setup_commands:
          - mkdir -p ~/synced && echo "from the head" > ~/synced/note.txt
        head_start_ray_commands:
          - echo head >> ~/start.log
        worker_start_ray_commands:
          - echo worker >> ~/start.log
        """)


def tree(root):
    return sorted(str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*"))


def test_excludes_synced_files_and_continuous_sync(cli, machines, user, tmp_path):
    m = machines(2)
    head, worker = m.ips
    project = tmp_path / "project"
    for rel, text in {"main.py": "v1\n", "run.log": "log\n", ".git/HEAD": "ref\n",
                      "pkg/.gitignore": "/build/\n*.tmp\n", "pkg/mod.py": "mod\n",
                      "pkg/build/out.bin": "bin\n", "pkg/x.tmp": "tmp\n", "build/keep.txt": "k\n"}.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    cfg = config(cli, m, user, project)
    cli.run("up", cfg, "-y")

    want = ["build/", "build/keep.txt", "main.py", "pkg/", "pkg/.gitignore", "pkg/mod.py"]
    for ip in m.ips:
        assert tree(m.home(ip) / "project") == want, ip
        assert m.read(ip, "setup.log") == "setup\n"
    # The head's own file reached the worker, at the same path.
    assert m.read(worker, "synced/note.txt") == "from the head\n"
    st = json.loads(cli.run("status", cfg, "--json").stdout)
    assert {n["status"] for n in st["nodes"]} == {"up-to-date"}

    # A changed file and a new one go to both nodes on the next `up`; an
    # excluded new file does not; no command runs again.
    (project / "main.py").write_text("v2\n")
    (project / "pkg" / "new.py").write_text("new\n")
    (project / "pkg" / "y.tmp").write_text("tmp\n")
    out = cli.run("up", cfg, "-y")
    assert "file_mounts_sync_continuously" in out.stdout + out.stderr
    for ip in m.ips:
        assert (m.home(ip) / "project" / "main.py").read_text() == "v2\n", ip
        assert (m.home(ip) / "project" / "pkg" / "new.py").exists(), ip
        assert not (m.home(ip) / "project" / "pkg" / "y.tmp").exists(), ip
        assert m.read(ip, "setup.log") == "setup\n", ip
    assert m.read(head, "start.log") == "head\n"
    assert m.read(worker, "start.log") == "worker\n"

    # Nothing changed: nothing copied, nothing run.
    out = cli.run("up", cfg, "-y")
    assert "file_mounts_sync_continuously" not in out.stdout + out.stderr
    cli.run("down", cfg, "-y")
