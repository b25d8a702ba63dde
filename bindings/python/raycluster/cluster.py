"""Thin classes over the C ABI: ClusterSpec, Cluster, Operation, Event."""
from __future__ import annotations

import atexit
import ctypes
import dataclasses
import json
import os
import threading
import weakref
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import errors
from ._lib import (
    AUTOSCALER_OPTIONS_VERSION, CLUSTER_OPTIONS_VERSION, DOWN_OPTIONS_VERSION, EXEC_OPTIONS_VERSION, SCALE_OPTIONS_VERSION,
    UP_OPTIONS_VERSION, WAIT_FOREVER, EventCallback, EventKind, LogLevel, Status, autoscaler_p,
    cluster_p, lib, rc_autoscaler_options,
    operation_p, rc_cluster_options, rc_down_options, rc_exec_options, rc_scale_options,
    rc_up_options, spec_p, take_string, tunnel_p, _last_error_fields,
)

PathLike = Union[str, "os.PathLike[str]"]
Config = Union["ClusterSpec", Dict[str, Any], PathLike]


@dataclasses.dataclass(frozen=True)
class Event:
    """What a long operation reports (a copy: safe to keep)."""
    kind: EventKind
    level: LogLevel
    node_id: str
    node_type: str
    status: str    # NODE_STATUS: Ray's status name
    message: str
    stream: str    # command output lines: "stdout" / "stderr"
    done: int      # PROGRESS
    total: int     # PROGRESS
    time: float    # seconds since the epoch

    @staticmethod
    def _from_c(ev: int) -> "Event":
        done, total = ctypes.c_int(0), ctypes.c_int(0)
        lib.rc_event_progress(ev, ctypes.byref(done), ctypes.byref(total))
        kind = lib.rc_event_kind_of(ev)
        return Event(
            kind=EventKind(kind) if kind in EventKind._value2member_map_ else kind,
            level=LogLevel(lib.rc_event_level(ev)),
            node_id=lib.rc_event_node_id(ev),
            node_type=lib.rc_event_node_type(ev),
            status=lib.rc_event_status(ev),
            message=lib.rc_event_message(ev),
            stream=lib.rc_event_stream(ev),
            done=done.value,
            total=total.value,
            time=lib.rc_event_time_ms(ev) / 1000.0,
        )

    def __str__(self) -> str:
        who = f"[{self.node_id}] " if self.node_id else ""
        if self.kind == EventKind.NODE_STATUS:
            return f"{who}{self.status}"
        if self.kind == EventKind.PROGRESS:
            return f"{who}{self.done}/{self.total} {self.message}"
        return f"{who}{self.message}"


OnEvent = Callable[[Event], None]


class _Callback:
    """A Python callable as an rc_event_callback. Holds the ctypes thunk alive
    and keeps the first exception the callable raised (it must not cross into
    C); the operation re-raises it from wait()."""

    def __init__(self, fn: Optional[OnEvent]) -> None:
        self.fn = fn
        self.error: Optional[BaseException] = None
        self.thread: Optional[int] = None
        self.c = EventCallback(self._call) if fn else EventCallback()

    def _call(self, ev: int, user_data: int) -> None:
        self.thread = threading.get_ident()
        try:
            self.fn(Event._from_c(ev))  # type: ignore[misc]
        except BaseException as e:  # noqa: BLE001 - nothing may cross into C
            if self.error is None:
                self.error = e


# Thunks of operations released from inside their own callback: the C side
# may still call them until the operation ends, so they are never collected.
_orphans: List[_Callback] = []

# Operations still open at interpreter exit are cancelled and joined, so no
# command they started outlives the process unnoticed (down cleans up anyway).
_open_operations: "weakref.WeakSet[Operation]" = weakref.WeakSet()


@atexit.register
def _close_open_operations() -> None:
    for op in list(_open_operations):
        try:
            op.close()
        except Exception:  # noqa: BLE001
            pass


class ClusterSpec:
    """A validated, normalised cluster config (immutable)."""

    def __init__(self, _handle: Any) -> None:
        self._h = _handle

    @classmethod
    def from_file(cls, path: PathLike) -> "ClusterSpec":
        h = spec_p()
        lib.rc_spec_load_file(ctypes.byref(h), os.fsencode(path))
        return cls(h)

    @classmethod
    def from_string(cls, text: str, name: Optional[str] = None) -> "ClusterSpec":
        """Config text in any dialect; `name` stands for the file in messages."""
        h = spec_p()
        lib.rc_spec_load_string(ctypes.byref(h), text.encode(),
                                name.encode() if name is not None else None)
        return cls(h)

    @classmethod
    def from_dict(cls, config: Dict[str, Any], name: str = "<dict>") -> "ClusterSpec":
        return cls.from_string(json.dumps(config), name)  # JSON is YAML

    @classmethod
    def of(cls, config: Config) -> "ClusterSpec":
        if isinstance(config, ClusterSpec):
            return config
        if isinstance(config, dict):
            return cls.from_dict(config)
        return cls.from_file(config)

    def to_dict(self) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        lib.rc_spec_to_json(ctypes.byref(out), self._h)
        return json.loads(take_string(out))

    @property
    def cluster_name(self) -> str:
        return self.to_dict()["cluster_name"]

    def __del__(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h:
            lib.rc_spec_free(h)


class _Handle:
    """What Operation, Cluster and Autoscaler share: a library handle in
    `_h`, released by close(); usable as a context manager; closed when
    collected."""

    _what = "handle"
    _h: Any = None

    def close(self) -> None:
        raise NotImplementedError

    def _live(self) -> Any:
        if not self._h:
            raise errors.InvalidArgument(f"the {self._what} was closed", code=-1,
                                         category="invalid_argument")
        return self._h

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - e.g. at interpreter shutdown
            pass


class Operation(_Handle):
    """A running up / scale / down / exec. Events reach the `on_event`
    callable given when it was started, on a library thread (one call at a
    time). Closing (or collecting) a running operation cancels it and waits
    for it to end."""

    _what = "operation"

    def __init__(self, cluster: "Cluster", handle: Any, callback: _Callback, kind: str) -> None:
        self._cluster = cluster  # keeps the cluster's own callback alive too
        self._h = handle
        self._cb = callback
        self.kind = kind
        _open_operations.add(self)

    @property
    def done(self) -> bool:
        flag = ctypes.c_int(0)
        lib.rc_operation_poll(self._live(), ctypes.byref(flag))
        return bool(flag.value)

    def cancel(self) -> None:
        """Asks the operation to stop; returns at once."""
        lib.rc_operation_cancel(self._live())

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Waits for the end and returns the result (exec: (exit_status, output);
        otherwise None). Raises the operation's error, or the first exception
        an on_event callable raised, or raycluster.TimeoutError when `timeout`
        seconds pass first (the operation keeps running). Ctrl-C cancels it."""
        h = self._live()
        if self._cb.thread is not None and self._cb.thread == threading.get_ident():
            raise errors.InvalidArgument("Operation.wait() inside its own on_event callback "
                                         "would deadlock", code=-1, category="invalid_argument")
        slice_ms = 100  # short waits, so KeyboardInterrupt is seen
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        try:
            while True:
                step = slice_ms
                if deadline is not None:
                    step = max(0, min(slice_ms, int((deadline - time.monotonic()) * 1000)))
                s = lib.rc_operation_wait(h, step)
                if s == Status.E_INVALID_ARGUMENT and not self.done:  # e.g. inside a callback
                    raise errors.from_last_error(s, _last_error_fields())
                if s != Status.E_TIMEOUT or lib.rc_last_error().contents.category != b"wait_timeout":
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise errors.TimeoutError(
                        f"the {self.kind} operation is still running after {timeout} s",
                        code=int(Status.E_TIMEOUT), category="wait_timeout")
        except KeyboardInterrupt:
            self.cancel()
            lib.rc_operation_wait(h, WAIT_FOREVER)
            raise
        return self.result()

    def result(self) -> Any:
        """The outcome of the ended operation (see wait())."""
        h = self._live()
        if self._cb.error is not None:
            raise self._cb.error
        lib.rc_operation_result(h)
        if self.kind != "exec":
            return None
        code, out = ctypes.c_int(-1), ctypes.c_void_p()
        lib.rc_operation_exec_result(ctypes.byref(code), ctypes.byref(out), None, h)
        return code.value, take_string(out)

    def close(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if not h:
            return
        in_own_callback = self._cb.thread == threading.get_ident()
        lib.rc_operation_free(h)
        if in_own_callback:
            _orphans.append(self._cb)



class Cluster(_Handle):
    """One cluster: a config bound to its provider and its state folder.

    Safe to use from several threads (status() while an up runs). Use it as a
    context manager, or close() it; running operations keep it alive."""

    _what = "cluster"

    def __init__(self, config: Config, *, state_root: Optional[PathLike] = None,
                 parallelism: int = 0, command_timeout: Optional[float] = None,
                 setup_attempts: int = 0, min_log_level: LogLevel = LogLevel.DEBUG,
                 on_event: Optional[OnEvent] = None) -> None:
        self.spec = ClusterSpec.of(config)
        self._cb = _Callback(on_event)
        o = rc_cluster_options()
        o.version = CLUSTER_OPTIONS_VERSION
        o.state_root = os.fsencode(state_root) if state_root is not None else None
        o.parallelism = parallelism
        o.command_timeout_ms = int(command_timeout * 1000) if command_timeout else 0
        o.setup_attempts = setup_attempts
        o.min_log_level = int(min_log_level)
        o.on_event = self._cb.c
        h = cluster_p()
        lib.rc_cluster_open(ctypes.byref(h), self.spec._h, ctypes.byref(o))
        self._h = h

    # -- queries --

    def status(self) -> Dict[str, Any]:
        """The cluster's nodes (the JSON schema is in raycluster.h)."""
        out = ctypes.c_void_p()
        lib.rc_cluster_status(ctypes.byref(out), self._live())
        return json.loads(take_string(out))

    def head_ip(self) -> str:
        out = ctypes.c_void_p()
        lib.rc_cluster_head_ip(ctypes.byref(out), self._live())
        return take_string(out)

    def worker_ips(self) -> List[str]:
        out = ctypes.c_void_p()
        lib.rc_cluster_worker_ips(ctypes.byref(out), self._live())
        return json.loads(take_string(out))

    def tunnel(self, remote_port: int = 0, local_port: int = 0) -> "Tunnel":
        """Reaches `remote_port` on the head (0: its Ray dashboard) from this
        machine: an SSH tunnel on 127.0.0.1:`local_port` (0: a free port), or
        the head's own address where it is reached directly (localhost).
        Blocks while it connects; close it (or use `with`) to end it."""
        out = tunnel_p()
        lib.rc_cluster_tunnel(ctypes.byref(out), self._live(), remote_port, local_port)
        return Tunnel(out)

    def dashboard(self, local_port: int = 0) -> "Tunnel":
        """The head's Ray dashboard: `with c.dashboard() as d: d.url`."""
        return self.tunnel(0, local_port)

    # -- operations --

    def up(self, wait: bool = True, *, force_setup: bool = False,
           on_event: Optional[OnEvent] = None) -> Optional[Operation]:
        """Launches and sets up the head and the initial workers. With
        wait=False returns the running Operation."""
        cb = _Callback(on_event)
        o = rc_up_options(UP_OPTIONS_VERSION, int(force_setup), cb.c, None)
        return self._start(lib.rc_cluster_up_async, o, cb, "up", wait)

    def scale(self, workers: int, node_type: Optional[str] = None, wait: bool = True, *,
              on_event: Optional[OnEvent] = None) -> Optional[Operation]:
        """Sets the number of workers of `node_type` (default: the only worker type)."""
        cb = _Callback(on_event)
        o = rc_scale_options(SCALE_OPTIONS_VERSION, workers,
                             node_type.encode() if node_type else None, cb.c, None)
        return self._start(lib.rc_cluster_scale_async, o, cb, "scale", wait)

    def down(self, workers_only: bool = False, keep_min_workers: bool = False,
             wait: bool = True, *, on_event: Optional[OnEvent] = None,
             delete_storage: bool = False) -> Optional[Operation]:
        """Terminates the cluster's nodes (all, or only workers). The
        cluster's volumes are detached and kept, unless delete_storage (only
        with a full down) deletes them and their data; no confirmation is asked."""
        cb = _Callback(on_event)
        o = rc_down_options(DOWN_OPTIONS_VERSION, int(workers_only), int(keep_min_workers),
                            cb.c, None, int(delete_storage))
        return self._start(lib.rc_cluster_down_async, o, cb, "down", wait)

    def exec(self, cmd: str, node: Optional[str] = None, wait: bool = True, *,
             timeout: Optional[float] = None,
             on_event: Optional[OnEvent] = None) -> Union[Tuple[int, str], Operation]:
        """Runs a shell command on the head (or on `node`: an id or address).
        Returns (exit_status, stdout); stderr lines reach on_event. A non-zero
        exit status is returned, not raised."""
        cb = _Callback(on_event)
        o = rc_exec_options(EXEC_OPTIONS_VERSION, node.encode() if node else None,
                            int(timeout * 1000) if timeout else 0, cb.c, None)
        op = operation_p()
        lib.rc_cluster_exec_async(ctypes.byref(op), self._live(), cmd.encode(), ctypes.byref(o))
        operation = Operation(self, op, cb, "exec")
        if not wait:
            return operation
        with operation:
            return operation.wait()

    def _start(self, fn: Any, options: Any, cb: _Callback, kind: str,
               wait: bool) -> Optional[Operation]:
        op = operation_p()
        fn(ctypes.byref(op), self._live(), ctypes.byref(options))
        operation = Operation(self, op, cb, kind)
        if not wait:
            return operation
        with operation:
            operation.wait()
        return None

    # -- autoscaling --

    def request_resources(self, num_cpus: Optional[int] = None,
                          bundles: Optional[List[Dict[str, float]]] = None) -> None:
        """Ray's ray.autoscaler.sdk.request_resources(): scale to hold
        `num_cpus` one-CPU bundles plus `bundles` at once, whatever the load.
        Replaces the previous request; request_resources(bundles=[]) (or no
        arguments) withdraws it. Raises InvalidArgument for bad bundles."""
        return request_resources_json(self, num_cpus, bundles)

    def autoscaler(self, interval: Optional[float] = None, *,
                   dashboard_url: Optional[str] = None, on_event: Optional[OnEvent] = None,
                   start: bool = True) -> "Autoscaler":
        """The cluster's reconcile loop on a library thread (started unless
        start=False). Use it as a context manager, or stop()/close() it."""
        return Autoscaler(self, interval=interval, dashboard_url=dashboard_url,
                          on_event=on_event, start=start)

    # -- lifetime --

    def close(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h:
            lib.rc_cluster_free(h)



def request_resources_json(cluster: "Cluster", num_cpus: Optional[int],
                           bundles: Optional[List[Dict[str, float]]]) -> None:
    """Ray's request_resources() argument checks, then rc_request_resources."""
    items: List[Dict[str, float]] = []
    if num_cpus is not None:
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 0:
            raise errors.InvalidArgument(f"num_cpus must be an int >= 0, not {num_cpus!r}",
                                         code=-1, category="invalid_argument")
        items += [{"CPU": 1}] * num_cpus
    if bundles is not None:
        if not isinstance(bundles, (list, tuple)):
            raise errors.InvalidArgument("bundles must be a list of dicts of resource amounts",
                                         code=-1, category="invalid_argument")
        items += list(bundles)
    try:
        text = json.dumps(items, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise errors.InvalidArgument(f"bundles are not JSON-serialisable: {e}", code=-1,
                                     category="invalid_argument") from None
    lib.rc_request_resources(cluster._live(), text.encode())


class Tunnel(_Handle):
    """A port of the head reached from this machine (Cluster.tunnel)."""

    _what = "tunnel"

    def __init__(self, handle: Any) -> None:
        self._h = handle
        self.host: str = lib.rc_tunnel_host(handle)
        self.port: int = lib.rc_tunnel_port(handle)
        # True when no tunnel was needed: host is the head's own address.
        self.direct: bool = bool(lib.rc_tunnel_direct(handle))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        h, self._h = self._h, None
        if h:
            lib.rc_tunnel_free(h)

    def __repr__(self) -> str:
        return f"<raycluster.Tunnel {self.url}{' (direct)' if self.direct else ''}>"


class Autoscaler(_Handle):
    """The autoscaler's reconcile loop of one cluster, run on a library
    thread inside this process. Events (the loop's decisions, as
    Event(kind=LOG) whose message is a JSON object) reach `on_event` on that
    thread, one at a time; an exception there is kept and re-raised by
    stop(). stop() is idempotent; close() (or leaving the `with` block)
    stops and frees it."""

    _what = "autoscaler"

    def __init__(self, cluster: Cluster, *, interval: Optional[float] = None,
                 dashboard_url: Optional[str] = None, on_event: Optional[OnEvent] = None,
                 start: bool = True) -> None:
        if interval is not None and interval < 0:
            raise errors.InvalidArgument("interval must be >= 0 seconds", code=-1,
                                         category="invalid_argument")
        self.cluster = cluster  # keeps its callback alive
        self._cb = _Callback(on_event)
        self._interval_ms = int(interval * 1000) if interval else 0
        self._url = dashboard_url
        self._h: Any = None
        if start:
            self.start()

    @property
    def running(self) -> bool:
        return bool(self._h)

    def start(self) -> "Autoscaler":
        if self._h:
            return self
        o = rc_autoscaler_options(AUTOSCALER_OPTIONS_VERSION, self._interval_ms,
                                  self._url.encode() if self._url else None, self._cb.c, None)
        h = autoscaler_p()
        lib.rc_autoscaler_start(ctypes.byref(h), self.cluster._live(), ctypes.byref(o))
        self._h = h
        _open_autoscalers.add(self)
        return self

    def request_resources(self, num_cpus: Optional[int] = None,
                          bundles: Optional[List[Dict[str, float]]] = None) -> None:
        self.cluster.request_resources(num_cpus=num_cpus, bundles=bundles)

    def stop(self) -> None:
        """Stops the loop and joins its threads; re-raises the first exception
        on_event raised."""
        h, self._h = self._h, None
        if h:
            if self._cb.thread == threading.get_ident():
                self._h = h
                raise errors.InvalidArgument("Autoscaler.stop() inside its own on_event "
                                             "callback would deadlock", code=-1,
                                             category="invalid_argument")
            try:
                lib.rc_autoscaler_stop(h)
            finally:
                lib.rc_autoscaler_free(h)
        if self._cb.error is not None:
            err, self._cb.error = self._cb.error, None
            raise err

    def close(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h:
            in_own_callback = self._cb.thread == threading.get_ident()
            lib.rc_autoscaler_free(h)
            if in_own_callback:
                _orphans.append(self._cb)

    def __enter__(self) -> "Autoscaler":
        return self.start()



_open_autoscalers: "weakref.WeakSet[Autoscaler]" = weakref.WeakSet()


@atexit.register
def _close_open_autoscalers() -> None:
    for a in list(_open_autoscalers):
        try:
            a.close()
        except Exception:  # noqa: BLE001
            pass
