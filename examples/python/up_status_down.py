"""Bring a cluster up, print its status, take it down (real Ray on localhost).

    PATH=$PWD/.venv/bin:$PATH PYTHONPATH=bindings/python \
        python3 examples/python/up_status_down.py examples/c/cluster.yaml
"""
import json
import sys

import raycluster

with raycluster.Cluster(sys.argv[1], on_event=print, min_log_level=raycluster.LogLevel.INFO) as c:
    c.up()
    print(json.dumps(c.status(), indent=2))
    c.down()
