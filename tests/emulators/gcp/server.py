"""Runs the Compute emulator (with the token endpoint at /token) as a process
until SIGTERM or SIGINT.

    python tests/emulators/gcp/server.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
        [--project emulated-project] [--region us-central1]
        [--access-token TOKEN ...] [--service-account-public-key EMAIL=PEMFILE ...] [--metadata]
        [--provision-seconds S] [--staging-seconds S] [--stop-seconds S] [--delete-seconds S]
        [--pending-seconds S]
        [--wait-seconds S] [--latency-ms N] [--faults JSON]
        [--ssh-authorized-keys FILE --ssh-port P --ssh-workdir DIR]

Prints ``listening on http://HOST:PORT`` once it serves, and writes the port to
``--port-file`` (atomically). The Compute API is under ``/compute/v1/``, the
token endpoint at ``/token``; assertions must be signed by a key given with
``--service-account-public-key`` and name ``http://HOST:PORT/token`` or
Google's token URI as audience. Stopping ends every sshd it started. The
control endpoints under ``/_emulator/`` (state, calls, faults, preempt,
reset-calls, checkip) drive it from another process.
"""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
if not __package__:
    # Run as a script: this folder must not be on the path, or its token.py
    # would stand in for the standard library's token module.
    sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402

from gcp.emulator import GceEmulator  # noqa: E402
from gcp.token import TokenService  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Compute Engine v1 emulator on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--project", default="emulated-project")
    parser.add_argument("--region", default="us-central1")
    parser.add_argument("--access-token", action="append", default=[],
                        help="a static bearer token the API accepts (repeatable)")
    parser.add_argument("--service-account-public-key", action="append", default=[], metavar="EMAIL=PEMFILE",
                        help="accept token requests signed by this service account's key (repeatable)")
    parser.add_argument("--metadata", action="store_true",
                        help="also answer the metadata server's token path (for GCE_METADATA_HOST)")
    parser.add_argument("--provision-seconds", type=float, default=0.3)
    parser.add_argument("--staging-seconds", type=float, default=0.3)
    parser.add_argument("--stop-seconds", type=float, default=0.3)
    parser.add_argument("--delete-seconds", type=float, default=0.3)
    parser.add_argument("--pending-seconds", type=float, default=0.05,
                        help="how long an operation stays PENDING")
    parser.add_argument("--wait-seconds", type=float, default=3.0,
                        help="longest zoneOperations.wait blocks (Compute: about 2 minutes)")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--faults", help="JSON object of fault settings (see faults.py)")
    parser.add_argument("--ssh-authorized-keys", help="file whose keys every instance's sshd accepts")
    parser.add_argument("--ssh-port", type=int)
    parser.add_argument("--ssh-workdir")
    return parser.parse_args(argv)


def _token_service(args):
    accounts = {}
    for entry in args.service_account_public_key:
        email, sep, path = entry.partition("=")
        if not sep or not email or not path:
            raise SystemExit(f"--service-account-public-key {entry!r}: expected EMAIL=PEMFILE")
        accounts[email] = pathlib.Path(path).read_text()
    service = TokenService(accounts)
    if args.metadata:
        service.enable_metadata()
    return service


def main(argv=None):
    args = parse_args(argv)
    ssh = None
    if args.ssh_authorized_keys or args.ssh_port or args.ssh_workdir:
        keys = pathlib.Path(args.ssh_authorized_keys).read_text() if args.ssh_authorized_keys else ""
        ssh = {"authorized_keys": keys, "port": args.ssh_port, "workdir": args.ssh_workdir}
    faults = json.loads(args.faults) if args.faults else {}
    if args.latency_ms:
        faults["latency_ms"] = args.latency_ms
    emulator = GceEmulator(project=args.project, region=args.region, tokens=_token_service(args),
                           access_tokens=args.access_token, ssh=ssh, host=args.host, port=args.port,
                           provision_seconds=args.provision_seconds, staging_seconds=args.staging_seconds,
                           stop_seconds=args.stop_seconds, delete_seconds=args.delete_seconds,
                           pending_seconds=args.pending_seconds, wait_seconds=args.wait_seconds)
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
