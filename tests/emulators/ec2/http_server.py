"""Kept for imports of ``ec2.http_server``: the code lives in ``common/http_server.py``."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from common.http_server import *  # noqa: E402,F401,F403
