"""Functions shaped like Ray's autoscaler SDK (ray.autoscaler.sdk), so code
written against it can switch. `cluster_config` is a config dict or the path
of a config file, as in Ray.

State goes to $RAYCLUSTER_HOME, else ~/.raycluster."""
from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Union

from . import errors
from .cluster import Cluster, ClusterSpec

ClusterConfig = Union[dict, str]


def _unsupported(what: str) -> errors.Unsupported:
    return errors.Unsupported(f"{what} is not supported by raycluster", code=-15,
                              category="unsupported")


def create_or_update_cluster(cluster_config: ClusterConfig, *, no_restart: bool = False,
                             restart_only: bool = False,
                             no_config_cache: bool = False) -> Dict[str, Any]:
    """Creates or updates the cluster (`raycluster up`); returns the normalised
    config. Nodes whose setup inputs did not change are left alone, so Ray is
    only restarted where needed; `no_restart` and `restart_only` are not
    supported. `no_config_cache` has no effect (there is no config cache)."""
    if no_restart:
        raise _unsupported("no_restart")
    if restart_only:
        raise _unsupported("restart_only")
    spec = ClusterSpec.of(cluster_config)
    with Cluster(spec) as c:
        c.up()
    return spec.to_dict()


def teardown_cluster(cluster_config: ClusterConfig, workers_only: bool = False,
                     keep_min_workers: bool = False) -> None:
    """Terminates the cluster's nodes (`raycluster down`)."""
    with Cluster(cluster_config) as c:
        c.down(workers_only=workers_only, keep_min_workers=keep_min_workers)


def run_on_cluster(cluster_config: ClusterConfig, *, cmd: Optional[str] = None,
                   run_env: str = "auto", tmux: bool = False, stop: bool = False,
                   no_config_cache: bool = False, port_forward: Any = None,
                   with_output: bool = False) -> Optional[str]:
    """Runs `cmd` on the head. Returns its stdout with `with_output`, else
    prints it. Raises CommandFailed (with .exit_status and .output) when the
    command exits non-zero. tmux, stop, port_forward and run_env="docker" are
    not supported."""
    if tmux:
        raise _unsupported("tmux")
    if stop:
        raise _unsupported("stop")
    if port_forward:
        raise _unsupported("port_forward")
    if run_env not in ("auto", "host"):
        raise _unsupported(f"run_env={run_env!r}")
    if cmd is None:
        return "" if with_output else None
    with Cluster(cluster_config) as c:
        code, out = c.exec(cmd)  # type: ignore[misc]
    if code != 0:
        raise errors.CommandFailed(f"`{cmd}` exited {code}", exit_status=code, output=out,
                                   code=-12, category="command_failed")
    if with_output:
        return out
    sys.stdout.write(out)
    return None


def get_head_node_ip(cluster_config: ClusterConfig) -> str:
    """The head's address. Raises NotFound (a RuntimeError, as in Ray) without a head."""
    with Cluster(cluster_config) as c:
        return c.head_ip()


def request_resources(cluster_config: ClusterConfig, num_cpus: Optional[int] = None,
                      bundles: Optional[List[Dict[str, float]]] = None) -> None:
    """Ray's request_resources(num_cpus=..., bundles=...): asks the autoscaler
    to scale to hold `num_cpus` one-CPU bundles plus `bundles` immediately.
    Replaces the previous request; bundles=[] withdraws it. Persisted in the
    cluster's state folder, where a running autoscaler (`raycluster monitor`
    or a raycluster.Autoscaler) reads it. (Ray takes no config: its SDK talks
    to the connected cluster; here the config names the cluster.)"""
    with Cluster(cluster_config) as c:
        c.request_resources(num_cpus=num_cpus, bundles=bundles)


def get_worker_node_ips(cluster_config: ClusterConfig) -> List[str]:
    """The workers' addresses."""
    with Cluster(cluster_config) as c:
        return c.worker_ips()
