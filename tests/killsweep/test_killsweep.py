"""A short SIGKILL sweep (tests/killsweep/killsweep.py): 3 runs on the EC2
emulator and 3 on localhost, each killing up, scale and down once at a seeded
delay (18 kill points, a few of which land after the command ended), then
checking that the cluster converges and leaves nothing. The seed is printed
figures and all; RAYCLUSTER_KILLSWEEP_SEED replays another."""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
from killsweep import sweep  # noqa: E402
from rctest import raycluster_binary  # noqa: E402


def test_kill9_at_seeded_points_of_up_scale_down_converges(tmp_path):
    seed = int(os.environ.get("RAYCLUSTER_KILLSWEEP_SEED", "20261203"))
    tally = sweep(["localhost", "ec2"], seed, 3, raycluster_binary(), tmp_path)
    print(tally.as_dict())
    assert tally.runs == 6
    assert tally.kill_points > 0
    assert tally.violations == [], "\n".join(tally.violations)
