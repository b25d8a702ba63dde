"""The storage life-cycle on the on-prem provider: a volume is a folder on
the head machine (a real sshd with a home of its own), made over SSH,
linked at its mount path, kept by `down`, deleted by `down --delete-storage`."""
import getpass
import pathlib
import random
import sys

HERE = pathlib.Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "support"))
from sshd import Sshd, free_port, make_user_key  # noqa: E402


def test_onprem_volume_is_a_kept_folder_on_the_head(rc, tmp_path):
    key, pub = make_user_key(str(tmp_path / "key"))
    ip = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.1"
    home = tmp_path / "machine"
    home.mkdir()
    port = free_port()
    with Sshd(str(tmp_path / "sshd"), addresses=[ip], port=port, authorized_keys=pub,
              env={"HOME": str(home)}):
        cfg = rc.config(f"""
            cluster_name: prem
            autoscaler: off
            provider:
              type: local
              head_ip: {ip}
              worker_ips: []
              stop_commands: ["true"]
            auth: {{ssh_user: {getpass.getuser()}, ssh_private_key: {key}, ssh_port: {port}}}
            head_start_ray_commands: ["true"]
            worker_start_ray_commands: ["true"]
            storage:
              data: {{mount_path: "~/data"}}
            """)
        rc.run("up", cfg, "-y")
        folder = home / "raycluster-volumes" / "prem" / "data"
        assert (home / "data").resolve() == folder.resolve()
        rc.run("exec", cfg, "--", "echo kept > ~/data/kept.txt")
        rc.run("down", cfg, "-y")
        assert not (home / "data").is_symlink()
        assert (folder / "kept.txt").read_text() == "kept\n"
        rc.run("up", cfg, "-y")
        assert rc.run("exec", cfg, "--", "cat ~/data/kept.txt").stdout.strip() == "kept"
        p = rc.run("down", cfg, "--delete-storage", check=False)
        assert p.returncode == 1 and folder.exists()
        rc.run("down", cfg, "-y", "--delete-storage")
        assert not folder.exists()
        rc.configs.clear()  # down already; the machine goes with this block
