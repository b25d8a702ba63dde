"""Real OpenSSH servers standing in for running instances.

Each running instance gets one ``Sshd`` (from ``tests/support/sshd.py``)
listening on the instance's loopback addresses, all on one configured port. The
server accepts the configured authorized keys plus the instance's own keys
(an EC2 key pair's public key, the ``ssh-keys`` of a Compute instance's
metadata), as the cloud's images do; ``set_keys`` changes the latter while it
runs, as a guest agent would. Each instance has its own folder
under the work folder, so its host key survives a stop and start.
"""
import os
import pathlib
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "support"))
import sshd as sshd_support  # noqa: E402


class SshHosts:
    """Starts and stops the sshd of each instance."""

    def __init__(self, authorized_keys="", port=None, workdir=None, internal_loopback=False,
                 prefix="rc-ec2-hosts-", probe_address="127.77.0.1"):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=prefix)
        os.makedirs(self.workdir, exist_ok=True)
        self.authorized_keys = authorized_keys or ""
        self.port = port or sshd_support.free_port(probe_address)
        self.internal_loopback = internal_loopback
        # Each sshd in a mount namespace of its own, with <instance>/by-id
        # bound over /dev/disk/by-id and <instance>/fstab over /etc/fstab:
        # the instance's devices and mounts stay its own (EBS and PD tests).
        self.namespaced = False

    def _keys(self, own_keys):
        keys = self.authorized_keys
        if keys and not keys.endswith("\n"):
            keys += "\n"
        if own_keys and own_keys.strip():
            keys += own_keys.strip() + "\n"
        return keys

    def start(self, instance_id, addresses, key_pair_public_key="", env=None):
        """A started Sshd for the instance (raises RuntimeError if it does not come up).

        ``env``: variables of the machine's environment every session gets
        (sshd's SetEnv), besides HOME."""
        keys = self._keys(key_pair_public_key)
        # Each instance is a machine of its own: its own home (so login
        # shells read no dotfiles of this machine's user, and files written
        # to ~ stay apart), kept across stop/start as an EBS root would.
        home = os.path.join(self.workdir, instance_id, "home")
        os.makedirs(home, exist_ok=True)
        workdir = os.path.join(self.workdir, instance_id)
        wrap = None
        if self.namespaced:
            by_id, fstab = os.path.join(workdir, "by-id"), os.path.join(workdir, "fstab")
            os.makedirs(by_id, exist_ok=True)
            open(fstab, "a").close()
            wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    'mount --bind "$1" /dev/disk/by-id && mount --bind "$2" /etc/fstab && shift 2 '
                    '&& exec "$@"', "sh", by_id, fstab]
        host = sshd_support.Sshd(workdir=workdir, addresses=addresses, port=self.port,
                                 authorized_keys=keys, env={**(env or {}), "HOME": home},
                                 wrap=wrap)
        return host.start()

    def set_keys(self, host, own_keys):
        """Replaces the instance's own keys of a running host (sshd reads the
        file at each login)."""
        host.authorized_keys = self._keys(own_keys)
        path = os.path.join(host.workdir, "authorized_keys")
        with open(path + ".tmp", "w") as f:
            f.write(host.authorized_keys)
        os.chmod(path + ".tmp", 0o600)
        os.replace(path + ".tmp", path)

    @staticmethod
    def stop(host):
        """The instance stops or goes: its sshd, and whatever its sessions
        left running from its folder (a service the node started, detached
        from the session), as a machine that is off runs nothing."""
        host.stop()
        needle = os.path.join(host.workdir, "").encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if needle in f.read():
                        os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass

    def close(self):
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
