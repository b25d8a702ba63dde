"""The C ABI through ctypes: finding the library, the enums of raycluster.h,
and one declarative table of every function (name, argtypes, restype,
errcheck), as clang's cindex.py does. Nothing else in the package calls
ctypes on the library directly."""
from __future__ import annotations

import ctypes
import ctypes.util
import enum
import os
import pathlib
from typing import Any, Callable, List, Optional, Sequence, Tuple

from . import errors

ABI_VERSION = 0  # RC_ABI_VERSION of the header this binding mirrors


# --- enums (mirrored from raycluster.h; tests/python checks they match) ----

class Status(enum.IntEnum):
    OK = 0
    E_INVALID_ARGUMENT = -1
    E_CONFIG = -2
    E_IO = -3
    E_CANCELLED = -4
    E_TIMEOUT = -5
    E_NOT_FOUND = -6
    E_AUTH = -7
    E_THROTTLED = -8
    E_CAPACITY = -9
    E_QUOTA = -10
    E_INVALID_REQUEST = -11
    E_COMMAND_FAILED = -12
    E_UNAVAILABLE = -13
    E_INTERNAL = -14
    E_UNSUPPORTED = -15
    E_CONFLICT = -16


class EventKind(enum.IntEnum):
    NODE_STATUS = 1
    PROGRESS = 2
    LOG = 3


class LogLevel(enum.IntEnum):
    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3


WAIT_FOREVER = -1  # RC_WAIT_FOREVER

# The *_OPTIONS_VERSION each options struct below describes.
CLUSTER_OPTIONS_VERSION = 1
UP_OPTIONS_VERSION = 1
SCALE_OPTIONS_VERSION = 1
DOWN_OPTIONS_VERSION = 2
EXEC_OPTIONS_VERSION = 1
AUTOSCALER_OPTIONS_VERSION = 1


# --- structs ---------------------------------------------------------------

class rc_error(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_int),
        ("category", ctypes.c_char_p),
        ("message", ctypes.c_char_p),
        ("request_id", ctypes.c_char_p),
        ("retryable", ctypes.c_int),
        ("file", ctypes.c_char_p),
        ("line", ctypes.c_int),
        ("column", ctypes.c_int),
        ("key", ctypes.c_char_p),
    ]


# void (*rc_event_callback)(const rc_event *event, void *user_data)
EventCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class rc_cluster_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("state_root", ctypes.c_char_p),
        ("parallelism", ctypes.c_int),
        ("command_timeout_ms", ctypes.c_longlong),
        ("setup_attempts", ctypes.c_int),
        ("min_log_level", ctypes.c_int),
        ("on_event", EventCallback),
        ("user_data", ctypes.c_void_p),
    ]


class rc_up_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("force_setup", ctypes.c_int),
        ("on_event", EventCallback),
        ("user_data", ctypes.c_void_p),
    ]


class rc_scale_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("workers", ctypes.c_int),
        ("node_type", ctypes.c_char_p),
        ("on_event", EventCallback),
        ("user_data", ctypes.c_void_p),
    ]


class rc_down_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("workers_only", ctypes.c_int),
        ("keep_min_workers", ctypes.c_int),
        ("on_event", EventCallback),
        ("user_data", ctypes.c_void_p),
        ("delete_storage", ctypes.c_int),  # version >= 2
    ]


class rc_exec_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("node", ctypes.c_char_p),
        ("timeout_ms", ctypes.c_longlong),
        ("on_event", EventCallback),
        ("user_data", ctypes.c_void_p),
    ]


class rc_autoscaler_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("interval_ms", ctypes.c_longlong),
        ("dashboard_url", ctypes.c_char_p),
        ("on_event", EventCallback),
        ("user_data", ctypes.c_void_p),
    ]


# Opaque handles: typed pointers so one cannot be passed for another.
class _Opaque(ctypes.Structure):
    pass


class rc_spec(_Opaque):
    pass


class rc_cluster(_Opaque):
    pass


class rc_operation(_Opaque):
    pass


class rc_event(_Opaque):
    pass


class rc_autoscaler(_Opaque):
    pass


class rc_tunnel(_Opaque):
    pass


spec_p = ctypes.POINTER(rc_spec)
cluster_p = ctypes.POINTER(rc_cluster)
operation_p = ctypes.POINTER(rc_operation)
autoscaler_p = ctypes.POINTER(rc_autoscaler)
tunnel_p = ctypes.POINTER(rc_tunnel)
event_p = ctypes.c_void_p  # what callbacks receive; valid during the callback only
char_pp = ctypes.POINTER(ctypes.c_void_p)  # char **: freed with rc_string_free
int_p = ctypes.POINTER(ctypes.c_int)


# --- errcheck --------------------------------------------------------------

def _check_status(result: int, func: Any, args: Tuple) -> int:
    """errcheck of every rc_status function: raise the typed exception."""
    if result != Status.OK:
        raise errors.from_last_error(result, _last_error_fields())
    return result


def _last_error_fields() -> dict:
    e = lib.rc_last_error().contents

    def s(b: Optional[bytes]) -> str:
        return b.decode("utf-8", "replace") if b else ""

    return {
        "code": e.code,
        "category": s(e.category),
        "message": s(e.message),
        "request_id": s(e.request_id),
        "retryable": bool(e.retryable),
        "file": s(e.file),
        "line": e.line,
        "column": e.column,
        "key": s(e.key),
    }


def _utf8(result: Optional[bytes], func: Any, args: Tuple) -> str:
    return result.decode("utf-8", "replace") if result else ""


# --- the table ---------------------------------------------------------------

_S = ctypes.c_int  # rc_status
_check = _check_status

# (name, argtypes, restype, errcheck)
FUNCTIONS: Sequence[Tuple[str, List[Any], Any, Optional[Callable]]] = [
    ("rc_version", [], ctypes.c_char_p, _utf8),
    ("rc_abi_version", [], ctypes.c_int, None),
    ("rc_last_error", [], ctypes.POINTER(rc_error), None),
    ("rc_string_free", [ctypes.c_void_p], None, None),
    ("rc_status_name", [ctypes.c_int], ctypes.c_char_p, _utf8),

    ("rc_spec_load_file", [ctypes.POINTER(spec_p), ctypes.c_char_p], _S, _check),
    ("rc_spec_load_string", [ctypes.POINTER(spec_p), ctypes.c_char_p, ctypes.c_char_p], _S, _check),
    ("rc_spec_to_json", [char_pp, spec_p], _S, _check),
    ("rc_spec_free", [spec_p], None, None),

    ("rc_event_kind_of", [event_p], ctypes.c_int, None),
    ("rc_event_level", [event_p], ctypes.c_int, None),
    ("rc_event_node_id", [event_p], ctypes.c_char_p, _utf8),
    ("rc_event_node_type", [event_p], ctypes.c_char_p, _utf8),
    ("rc_event_status", [event_p], ctypes.c_char_p, _utf8),
    ("rc_event_message", [event_p], ctypes.c_char_p, _utf8),
    ("rc_event_stream", [event_p], ctypes.c_char_p, _utf8),
    ("rc_event_time_ms", [event_p], ctypes.c_longlong, None),
    ("rc_event_progress", [event_p, int_p, int_p], _S, _check),

    ("rc_cluster_open", [ctypes.POINTER(cluster_p), spec_p, ctypes.POINTER(rc_cluster_options)],
     _S, _check),
    ("rc_cluster_free", [cluster_p], None, None),
    ("rc_cluster_status", [char_pp, cluster_p], _S, _check),
    ("rc_cluster_head_ip", [char_pp, cluster_p], _S, _check),
    ("rc_cluster_worker_ips", [char_pp, cluster_p], _S, _check),
    ("rc_cluster_tunnel", [ctypes.POINTER(tunnel_p), cluster_p, ctypes.c_int, ctypes.c_int], _S,
     _check),
    ("rc_tunnel_host", [tunnel_p], ctypes.c_char_p, _utf8),
    ("rc_tunnel_port", [tunnel_p], ctypes.c_int, None),
    ("rc_tunnel_direct", [tunnel_p], ctypes.c_int, None),
    ("rc_tunnel_free", [tunnel_p], None, None),

    ("rc_cluster_up_async", [ctypes.POINTER(operation_p), cluster_p, ctypes.POINTER(rc_up_options)],
     _S, _check),
    ("rc_cluster_scale_async",
     [ctypes.POINTER(operation_p), cluster_p, ctypes.POINTER(rc_scale_options)], _S, _check),
    ("rc_cluster_down_async",
     [ctypes.POINTER(operation_p), cluster_p, ctypes.POINTER(rc_down_options)], _S, _check),
    ("rc_cluster_exec_async",
     [ctypes.POINTER(operation_p), cluster_p, ctypes.c_char_p, ctypes.POINTER(rc_exec_options)],
     _S, _check),
    ("rc_cluster_up", [cluster_p, ctypes.POINTER(rc_up_options)], _S, _check),
    ("rc_cluster_scale", [cluster_p, ctypes.POINTER(rc_scale_options)], _S, _check),
    ("rc_cluster_down", [cluster_p, ctypes.POINTER(rc_down_options)], _S, _check),
    ("rc_cluster_exec", [int_p, char_pp, char_pp, cluster_p, ctypes.c_char_p,
                         ctypes.POINTER(rc_exec_options)], _S, _check),

    # rc_operation_wait is checked by Operation.wait (a wait timeout is not an error there).
    ("rc_operation_wait", [operation_p, ctypes.c_longlong], _S, None),
    ("rc_operation_poll", [operation_p, int_p], _S, _check),
    ("rc_operation_cancel", [operation_p], _S, _check),
    ("rc_operation_result", [operation_p], _S, _check),
    ("rc_operation_exec_result", [int_p, char_pp, char_pp, operation_p], _S, _check),
    ("rc_operation_free", [operation_p], None, None),

    ("rc_request_resources", [cluster_p, ctypes.c_char_p], _S, _check),
    ("rc_autoscaler_start", [ctypes.POINTER(autoscaler_p), cluster_p,
                             ctypes.POINTER(rc_autoscaler_options)], _S, _check),
    ("rc_autoscaler_stop", [autoscaler_p], _S, _check),
    ("rc_autoscaler_free", [autoscaler_p], None, None),
]


# --- loading -------------------------------------------------------------------

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_SONAME = "libraycluster.so.%d" % ABI_VERSION


def _candidates() -> List[pathlib.Path]:
    found: List[pathlib.Path] = []
    env = os.environ.get("RAYCLUSTER_LIBRARY")
    if env:
        return [pathlib.Path(env)]
    # 1. Next to the package: the copy the wheel bundles (bindings/python/setup.py).
    found += [_PACKAGE_DIR / _SONAME, _PACKAGE_DIR / "libraycluster.so"]
    # 2. The build tree of a checkout: bindings/python/raycluster -> <root>/build*/capi.
    root = _PACKAGE_DIR.parents[2]
    found.append(root / "build" / "capi" / "libraycluster.so")
    found += sorted(root.glob("build*/capi/libraycluster.so"))
    return found


def _load() -> ctypes.CDLL:
    env = os.environ.get("RAYCLUSTER_LIBRARY")
    tried = []
    for path in _candidates():
        tried.append(str(path))
        if path.exists():
            return ctypes.CDLL(str(path))
    if not env:
        # 3. Installed system-wide (ldconfig, LD_LIBRARY_PATH).
        name = ctypes.util.find_library("raycluster")
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                tried.append(name)
        try:
            return ctypes.CDLL(_SONAME)
        except OSError:
            tried.append(_SONAME)
    raise errors.LibraryNotFound(
        "cannot find libraycluster (tried: " + ", ".join(tried) + "). Install the "
        "binding with its library (`pip install ./bindings/python` in the checkout), build "
        "it with `meson setup build && ninja -C build` (it lands in build/capi/), or set "
        "RAYCLUSTER_LIBRARY=/path/to/libraycluster.so")


def _bind(cdll: ctypes.CDLL) -> ctypes.CDLL:
    for name, argtypes, restype, errcheck in FUNCTIONS:
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise errors.LibraryNotFound(
                f"{cdll._name} has no {name}: the library is older than this binding "
                "(rebuild it, or point RAYCLUSTER_LIBRARY at a matching one)") from None
        fn.argtypes = argtypes
        fn.restype = restype
        if errcheck is not None:
            fn.errcheck = errcheck
    abi = cdll.rc_abi_version()
    if abi != ABI_VERSION:
        raise errors.LibraryNotFound(
            f"{cdll._name} has ABI version {abi}, this binding needs {ABI_VERSION}")
    return cdll


lib = _bind(_load())


def take_string(p: ctypes.c_void_p) -> str:
    """Decodes a `char *` the library returned and frees it."""
    if not p.value:
        return ""
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        lib.rc_string_free(p)


def encode(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else s.encode()
