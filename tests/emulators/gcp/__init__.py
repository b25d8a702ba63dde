"""Emulators of Google Cloud APIs: Compute Engine v1 (checked against
Google's discovery document), the OAuth2 token endpoint and the metadata
server's token path.

    from gcp import GceEmulator            # with tests/emulators on sys.path
    with GceEmulator(project="p", region="us-central1", access_tokens=["t"]) as gce:
        ... point a client at gce.api_endpoint ...

See ``emulator.py`` for the Compute request pipeline, ``token.py`` for the
token service and ``server.py`` for the command line.
"""
import pathlib
import sys

_EMULATORS = str(pathlib.Path(__file__).resolve().parents[1])
if _EMULATORS not in sys.path:
    sys.path.insert(0, _EMULATORS)

from .emulator import GceEmulator  # noqa: E402

__all__ = ["GceEmulator"]
