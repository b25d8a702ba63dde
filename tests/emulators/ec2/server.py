"""Runs the EC2 emulator as a process until SIGTERM or SIGINT.

    python tests/emulators/ec2/server.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
        [--region us-east-1] [--access-key ..] [--secret-key ..] [--session-token ..]
        [--boot-seconds S] [--terminate-seconds S] [--terminated-visible-seconds S]
        [--latency-ms N] [--faults JSON]
        [--ssh-authorized-keys FILE --ssh-port P --ssh-workdir DIR [--ssh-internal-loopback]]

Prints ``listening on http://HOST:PORT`` once it serves, and writes the port to
``--port-file`` (atomically). Stopping ends every sshd it started. The control
endpoints under ``/_emulator/`` (state, faults, reset-calls, checkip) drive it
from another process.
"""
import argparse
import json
import os
import pathlib
import signal
import sys
import threading

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from ec2.emulator import Ec2Emulator
else:
    from .emulator import Ec2Emulator


def parse_args(argv):
    parser = argparse.ArgumentParser(description="EC2 Query API emulator on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default="AKIDEMULATOR")
    parser.add_argument("--secret-key", default="emulator-secret")
    parser.add_argument("--session-token")
    parser.add_argument("--boot-seconds", type=float, default=2.0)
    parser.add_argument("--terminate-seconds", type=float, default=1.0)
    parser.add_argument("--terminated-visible-seconds", type=float, default=60.0)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--faults", help="JSON object of fault settings (see faults.py)")
    parser.add_argument("--ssh-authorized-keys", help="file whose content every instance's sshd accepts")
    parser.add_argument("--ssh-port", type=int)
    parser.add_argument("--ssh-workdir")
    parser.add_argument("--ssh-internal-loopback", action="store_true",
                        help="private addresses on loopback 127.78.X.Y, served by the sshd too")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ssh = None
    if args.ssh_authorized_keys or args.ssh_port or args.ssh_workdir:
        keys = ""
        if args.ssh_authorized_keys:
            keys = pathlib.Path(args.ssh_authorized_keys).read_text()
        ssh = {"authorized_keys": keys, "port": args.ssh_port, "workdir": args.ssh_workdir,
               "internal_loopback": args.ssh_internal_loopback}
    faults = json.loads(args.faults) if args.faults else {}
    if args.latency_ms:
        faults["latency_ms"] = args.latency_ms
    emulator = Ec2Emulator(region=args.region, access_key=args.access_key, secret_key=args.secret_key,
                           session_token=args.session_token, boot_seconds=args.boot_seconds,
                           terminate_seconds=args.terminate_seconds,
                           terminated_visible_seconds=args.terminated_visible_seconds,
                           ssh=ssh, host=args.host, port=args.port)
    emulator.set_faults(faults)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    emulator.start()
    try:
        if args.port_file:
            temporary = args.port_file + ".tmp"
            with open(temporary, "w") as f:
                f.write(f"{emulator.port}\n")
            os.replace(temporary, args.port_file)
        print(f"listening on {emulator.url}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
