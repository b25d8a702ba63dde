#!/usr/bin/env python3
"""The SIGKILL sweep of tests/killsweep at length: `kill -9` of raycluster at
seeded random moments of up, scale and down, on the EC2 emulator (real sshd
hosts) and on localhost, each followed by the same command to its end and
checks that nothing was launched twice, every instance was tagged from
creation and nothing is left after down. Writes bench/results/killsweep.json
(runs, kill points, violations: the goal is 0).

Usage: .venv/bin/python3 bench/killsweep_bench.py [--raycluster build/cli/raycluster]
       [--runs 25] [--seed 1]
"""
import argparse
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "killsweep"))
from killsweep import sweep  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raycluster", default=str(ROOT / "build" / "cli" / "raycluster"))
    ap.add_argument("--runs", type=int, default=25, help="runs per provider (3 kill points each)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="killsweep-") as work:
        tally = sweep(["localhost", "ec2"], args.seed, args.runs, args.raycluster, work)
    result = dict(tally.as_dict(), seed=args.seed, runs_per_provider=args.runs,
                  providers=["localhost", "ec2"], wall_s=round(time.time() - start, 1))
    out = ROOT / "bench" / "results" / "killsweep.json"
    out.write_text(json.dumps(result) + "\n")
    print(f"runs {result['runs']}, kill points {result['kill_points']}, "
          f"violations {result['violations']} -> {out}")
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
