"""Typed exceptions: one class per rc_status code, all RayClusterError."""
from __future__ import annotations

import builtins
from typing import Dict, Optional, Type


class RayClusterError(RuntimeError):
    """A failure the library reported.

    Attributes: ``code`` (the rc_status value), ``category`` (its stable name,
    e.g. ``"config"``), ``message``, ``retryable`` (repeating the call later may
    succeed) and ``request_id`` (the cloud's request id, or ``""``)."""

    def __init__(self, message: str, *, code: int = -14, category: str = "internal",
                 retryable: bool = False, request_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.category = category
        self.retryable = retryable
        self.request_id = request_id


class LibraryNotFound(ImportError):
    """libraycluster could not be found or does not match this binding."""


class InvalidArgument(RayClusterError, ValueError):
    pass


class ConfigError(RayClusterError):
    """The cluster config is invalid. ``file``, ``line``, ``column`` and ``key``
    point at the first problem; the message lists them all."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, column: int = 0,
                 key: str = "", **kw) -> None:
        super().__init__(message, **kw)
        self.file = file
        self.line = line
        self.column = column
        self.key = key


class LocalIOError(RayClusterError):
    """A local file or process operation failed."""


class Cancelled(RayClusterError):
    pass


class TimeoutError(RayClusterError, builtins.TimeoutError):  # noqa: A001 (shadows on purpose)
    """A deadline passed: an exec's timeout, or Operation.wait(timeout=...)."""


class NotFound(RayClusterError):
    pass


class CloudError(RayClusterError):
    """The cloud refused or failed a request."""


class AuthError(CloudError):
    pass


class Throttled(CloudError):
    pass


class CapacityError(CloudError):
    pass


class QuotaExceeded(CloudError):
    pass


class InvalidRequest(CloudError):
    pass


class Unavailable(CloudError):
    pass


class CommandFailed(RayClusterError):
    """A command on a node failed. ``exit_status`` is set when known."""

    def __init__(self, message: str, *, exit_status: Optional[int] = None, output: str = "",
                 **kw) -> None:
        super().__init__(message, **kw)
        self.exit_status = exit_status
        self.output = output


class InternalError(RayClusterError):
    pass


class Unsupported(RayClusterError, NotImplementedError):
    pass


class Conflict(RayClusterError):
    """Another operation is changing the cluster."""


BY_CODE: Dict[int, Type[RayClusterError]] = {
    -1: InvalidArgument,
    -2: ConfigError,
    -3: LocalIOError,
    -4: Cancelled,
    -5: TimeoutError,
    -6: NotFound,
    -7: AuthError,
    -8: Throttled,
    -9: CapacityError,
    -10: QuotaExceeded,
    -11: InvalidRequest,
    -12: CommandFailed,
    -13: Unavailable,
    -14: InternalError,
    -15: Unsupported,
    -16: Conflict,
}


def from_last_error(status: int, fields: dict) -> RayClusterError:
    """The exception for a status and the fields of rc_last_error()."""
    cls = BY_CODE.get(status, RayClusterError)
    kw = dict(code=status, category=fields.get("category") or "unknown",
              retryable=fields.get("retryable", False), request_id=fields.get("request_id", ""))
    message = fields.get("message") or f"raycluster error {status}"
    if cls is ConfigError:
        return ConfigError(message, file=fields.get("file", ""), line=fields.get("line", 0),
                           column=fields.get("column", 0), key=fields.get("key", ""), **kw)
    return cls(message, **kw)
