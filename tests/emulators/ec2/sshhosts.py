"""Real OpenSSH servers standing in for running instances.

Each running instance gets one ``Sshd`` (from ``tests/support/sshd.py``)
listening on its public loopback address, and on its private loopback address
when private addresses are on loopback too, all on one configured port. The
server accepts the configured authorized keys plus the public key of the
instance's key pair, as an EC2 image would. Each instance has its own folder
under the work folder, so its host key survives a stop and start.
"""
import os
import pathlib
import shutil
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "support"))
import sshd as sshd_support  # noqa: E402


class SshHosts:
    """Starts and stops the sshd of each instance."""

    def __init__(self, authorized_keys="", port=None, workdir=None, internal_loopback=False):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="rc-ec2-hosts-")
        os.makedirs(self.workdir, exist_ok=True)
        self.authorized_keys = authorized_keys or ""
        self.port = port or sshd_support.free_port("127.77.0.1")
        self.internal_loopback = internal_loopback

    def start(self, instance_id, addresses, key_pair_public_key=""):
        """A started Sshd for the instance (raises RuntimeError if it does not come up)."""
        keys = self.authorized_keys
        if keys and not keys.endswith("\n"):
            keys += "\n"
        if key_pair_public_key:
            keys += key_pair_public_key.strip() + "\n"
        # Each instance is a machine of its own: its own home (so login
        # shells read no dotfiles of this machine's user, and files written
        # to ~ stay apart), kept across stop/start as an EBS root would.
        home = os.path.join(self.workdir, instance_id, "home")
        os.makedirs(home, exist_ok=True)
        host = sshd_support.Sshd(workdir=os.path.join(self.workdir, instance_id), addresses=addresses,
                                 port=self.port, authorized_keys=keys, env={"HOME": home})
        return host.start()

    @staticmethod
    def stop(host):
        host.stop()

    def close(self):
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
