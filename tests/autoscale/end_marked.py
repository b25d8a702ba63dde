"""end_marked.py MARK: ends every process whose environment holds
RC_TEST_MACHINE=MARK (or whose value starts with MARK when it ends in '.'),
TERM first and KILL after five seconds. The on-prem machines of the tunnel
test share this host, so `ray stop` would end every Ray on it; this ends one
machine's Ray only."""
import os
import signal
import sys
import time


def marked(mark):
    me = os.getpid()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"RC_TEST_MACHINE="):
                value = item.split(b"=", 1)[1].decode()
                if value == mark or (mark.endswith(".") and value.startswith(mark)):
                    found.append(int(pid))
                break
    return found


def end(mark):
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        pids = marked(mark)
        if not pids:
            return 0
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait
        while time.time() < deadline and marked(mark):
            time.sleep(0.1)
    return len(marked(mark))


if __name__ == "__main__":
    sys.exit(1 if end(sys.argv[1]) else 0)
