"""Pieces the cloud emulators share: the loopback HTTP server and the sshd
hosts behind running instances. Import as ``common.*`` with tests/emulators on
sys.path."""
