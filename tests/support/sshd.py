"""Real OpenSSH servers on loopback, standing in for machines in the Python suites.

Each Sshd has its own folder, config, host key and port, accepts only the keys
it is given (no passwords, no PAM), and runs as the current user (root in CI).
Several servers may listen on different loopback addresses (127.0.0.0/8 needs
no configuration on Linux) and the same port, like machines of one network.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SSHD = "/usr/sbin/sshd"


def free_port(address="127.0.0.1"):
    """A TCP port on `address` that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def make_user_key(directory):
    """An ed25519 key pair without passphrase in `directory`.

    Returns (private key path, public key text)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "id_ed25519")
    if not os.path.exists(path):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "raycluster-test",
                        "-f", path], check=True)
    with open(path + ".pub") as f:
        return path, f.read()


def _wait_listening(address, port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class Sshd:
    """One sshd -D process serving `addresses` on one port."""

    def __init__(self, workdir=None, addresses=("127.0.0.1",), port=None, authorized_keys="",
                 env=None, wrap=None):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="rc-sshd-")
        os.makedirs(self.workdir, exist_ok=True)
        self.addresses = list(addresses)
        self.port = port or free_port(self.addresses[0])
        self.authorized_keys = authorized_keys
        # Variables every session gets (sshd's SetEnv; it wins over the
        # defaults, so HOME=... gives the "machine" a home of its own).
        self.env = dict(env or {})
        # A command prefix sshd runs under (e.g. unshare into its own mount namespace).
        self.wrap = list(wrap or [])
        self._proc = None
        self._log = None
        self.host_key = os.path.join(self.workdir, "host_key")
        if not os.path.exists(self.host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.host_key],
                           check=True)

    def _write_config(self):
        keys = os.path.join(self.workdir, "authorized_keys")
        with open(keys, "w") as f:
            f.write(self.authorized_keys)
        os.chmod(keys, 0o600)
        lines = [f"Port {self.port}"]
        lines += [f"ListenAddress {a}" for a in self.addresses]
        lines += [
            f"HostKey {self.host_key}",
            f"PidFile {os.path.join(self.workdir, 'sshd.pid')}",
            f"AuthorizedKeysFile {keys}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "AllowTcpForwarding yes",
            # SFTP starts in the session's home, the given one included.
            "Subsystem sftp internal-sftp" + (f" -d {self.env['HOME']}" if "HOME" in self.env
                                              else ""),
            "MaxStartups 200:30:400",
            "MaxSessions 64",
            "LogLevel ERROR",
        ]
        if self.env:
            lines.append("SetEnv " + " ".join(f'{k}="{v}"' for k, v in self.env.items()))
        config = os.path.join(self.workdir, "sshd_config")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        return config

    def start(self, timeout=20.0):
        # sshd refuses to start unless its privilege-separation folder exists.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        config = self._write_config()
        self._log = open(os.path.join(self.workdir, "sshd.log"), "ab")
        self._proc = subprocess.Popen(self.wrap + [SSHD, "-D", "-e", "-f", config],
                                      stdout=self._log, stderr=self._log,
                                      start_new_session=True)
        deadline = time.monotonic() + timeout
        for address in self.addresses:
            if not _wait_listening(address, self.port, deadline):
                log = self.log_text()
                self.stop()
                raise RuntimeError(f"sshd on {address}:{self.port} did not come up: {log}")
        return self

    def stop(self):
        """Ends the server and every connection it serves."""
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            self._proc = None
            # Per-connection children run in the session too; SIGTERM to the
            # listener does not end them.
            self._kill_children()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _kill_children(self):
        needle = os.path.join(self.workdir, "sshd_config").encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if needle in f.read():
                        os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def host_key_fingerprint(self):
        out = subprocess.run(["ssh-keygen", "-l", "-f", self.host_key + ".pub"], check=True,
                             capture_output=True, text=True).stdout
        return out.split()[1]

    def log_text(self):
        try:
            with open(os.path.join(self.workdir, "sshd.log"), "rb") as f:
                return f.read().decode(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()
