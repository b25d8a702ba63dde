"""`docker:` on the localhost provider: each node's Ray (the provider's
default start commands) runs in a container of its own on this machine,
with the node's folder bound in and its loopback address reached through
--net=host; `down` removes the containers."""
import json
import os
import random
import sys

import pytest

VENV = os.path.realpath(sys.prefix)


@pytest.mark.once
def test_localhost_nodes_in_containers(cli, podman):
    name = f"rc-lh-{random.randint(0, 1 << 24):x}"
    cfg = cli.config(f"""
        cluster_name: {name}
        provider: {{type: localhost}}
        max_workers: 1
        head_node_type: head
        available_node_types:
          head: {{resources: {{CPU: 1}}, min_workers: 0, max_workers: 0}}
          worker: {{resources: {{CPU: 1}}, min_workers: 1, max_workers: 1}}
        docker:
          image: {podman.image}
          container_name: {name}
          use_podman: true
          pull_before_run: false
          run_options: ["-v /usr:/usr:ro", "-v {VENV}:{VENV}:ro"]
        """)
    cli.env["CONTAINERS_CONF"] = podman.conf

    def ours():
        out = podman("ps", "-a", "--format", "json").stdout
        return sorted(c["Names"][0] for c in json.loads(out or "[]")
                      if c["Names"][0].startswith(name + "-"))

    try:
        cli.run("up", cfg, "-y")
        names = ours()
        assert len(names) == 2, names
        for n in names:
            top = podman("top", n, "args").stdout
            assert "raylet" in top, top
        out = cli.run("exec", cfg, "--", "test -e /run/.containerenv && python -c "
                      "\"import ray; ray.init(address='auto'); "
                      "print('alive', sum(n['Alive'] for n in ray.nodes()))\"").stdout
        assert "alive 2" in out, out
        cli.run("down", cfg, "-y")
        assert ours() == []
    finally:
        for n in ours():
            podman("rm", "-f", n, check=False)
