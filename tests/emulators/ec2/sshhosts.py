"""Kept for imports of ``ec2.sshhosts``: the code lives in ``common/sshhosts.py``."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from common.sshhosts import *  # noqa: E402,F401,F403
