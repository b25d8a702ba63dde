"""An EC2 Query API emulator that checks what it receives against botocore.

    from ec2 import Ec2Emulator            # with tests/emulators on sys.path
    with Ec2Emulator(region="us-east-1") as ec2:
        ... point a client at ec2.url ...

See ``emulator.py`` for the request pipeline and ``server.py`` for the
command line.
"""
from .emulator import Ec2Emulator

__all__ = ["Ec2Emulator"]
