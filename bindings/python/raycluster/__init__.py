"""raycluster: launch, scale and tear down Ray clusters, from Python.

A ctypes binding of libraycluster's C ABI (no compiled extension). The
library is found through $RAYCLUSTER_LIBRARY, next to this package (where
the wheel, `pip install ./bindings/python`, puts it), in a checkout's build
tree (build/capi/libraycluster.so), or system-wide.

    import raycluster
    with raycluster.Cluster("cluster.yaml", on_event=print) as c:
        c.up()
        print(c.status())
        c.down()
"""
from ._lib import ABI_VERSION, EventKind, LogLevel, Status, lib as _cdll
from .cluster import Autoscaler, Cluster, ClusterSpec, Event, Operation, Tunnel
from .errors import (
    AuthError, Cancelled, CapacityError, CloudError, CommandFailed, ConfigError, Conflict,
    InternalError, InvalidArgument, InvalidRequest, LibraryNotFound, LocalIOError, NotFound,
    QuotaExceeded, RayClusterError, Throttled, TimeoutError, Unavailable, Unsupported,
)
from .sdk import (
    create_or_update_cluster, get_head_node_ip, get_worker_node_ips, request_resources,
    run_on_cluster, teardown_cluster,
)


def version() -> str:
    """The loaded library's version."""
    return _cdll.rc_version()


__all__ = [
    "ABI_VERSION", "AuthError", "Autoscaler", "Cancelled", "CapacityError", "CloudError", "Cluster",
    "ClusterSpec", "CommandFailed", "ConfigError", "Conflict", "Event", "EventKind",
    "InternalError", "InvalidArgument", "InvalidRequest", "LibraryNotFound", "LocalIOError",
    "LogLevel", "NotFound", "Operation", "QuotaExceeded", "RayClusterError", "Status",
    "Throttled", "TimeoutError", "Tunnel", "Unavailable", "Unsupported", "create_or_update_cluster",
    "get_head_node_ip", "get_worker_node_ips", "request_resources", "run_on_cluster",
    "teardown_cluster", "version",
]
