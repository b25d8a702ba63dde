"""A ProxyCommand that joins its stdin/stdout to one TCP address.

    python3 tcp_relay.py PORT [HOST]    (HOST defaults to 127.0.0.1)

Used by test_moto_peer.py: moto's instances have made-up addresses, so SSH to
any of them is sent to the one local sshd instead, whatever %h says. It never
connects anywhere but the address it is given (loopback in the tests).
"""
import os
import select
import socket
import sys


def relay(host, port):
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    inputs = [stdin, sock]
    while inputs:
        ready, _, _ = select.select(inputs, [], [])
        if stdin in ready:
            data = os.read(stdin, 65536)
            if data:
                sock.sendall(data)
            else:
                # The client is done sending: pass the end on, keep reading.
                inputs.remove(stdin)
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if sock in ready:
            data = sock.recv(65536)
            if not data:
                break
            view = memoryview(data)
            while view:
                n = os.write(stdout, view)
                view = view[n:]
    sock.close()


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: tcp_relay.py PORT [HOST]\n")
        return 2
    port = int(argv[1])
    host = argv[2] if len(argv) == 3 else "127.0.0.1"
    try:
        relay(host, port)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
