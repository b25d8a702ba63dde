"""Faults injected on demand, decided before a request takes effect.

Keys of the fault dictionary (``set_faults({})`` clears them all):

``rate_limit_rate``, ``error500_rate``, ``error503_rate``, ``drop_rate``
    probability (0..1) that a request is answered 429 ``rateLimitExceeded``,
    500 ``backendError``, 503 ``backendError``, or has its connection closed
    without an answer. Nothing takes effect.
``drop_after_effect_rate``
    probability that the request takes effect and the connection is then
    closed without an answer (a retry must reuse its ``requestId``).
``latency_ms``
    added delay before an API request is answered: a number (every request)
    or ``{method: ms}``.
``methods``
    if given (``["instances.insert", ...]``), the rates above and
    ``operation_errors`` apply only to these methods.
``stockout``
    ``{zone: "ZONE_RESOURCE_POOL_EXHAUSTED" |
    "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"}``: every insert, bulkInsert
    and start into the zone ends with a DONE operation carrying that error
    (``httpErrorStatusCode`` 503); the details name the region's other zones
    in ``errorDetails[].errorInfo.metadatas.zonesAvailable``.
``zone_capacity``
    ``{zone: n}``: at most n instances in the zone that are not TERMINATED; a
    bulkInsert creates as many as fit, or none and ``VM_MIN_COUNT_NOT_REACHED``
    below minCount; an insert or start that does not fit ends as a stockout.
``quota``
    ``{"CPUS": n, "INSTANCES": n, "NVIDIA_A100_GPUS": n, ...}``: regional
    limits over instances that are not TERMINATED.
``quota_mode``
    ``"sync"`` (default: a 403 ``quotaExceeded`` answer, nothing created) or
    ``"operation"`` (the operation ends with ``QUOTA_EXCEEDED``).
``operation_errors``
    ``{method: code}`` with code ``RESOURCE_NOT_READY``,
    ``RESOURCE_OPERATION_RATE_EXCEEDED``, ``INTERNAL_ERROR`` or
    ``QUOTA_EXCEEDED``: that method's operations end with that error (and
    no effect), each with probability ``operation_error_rate`` (default 1).
``sync_errors``
    ``{method: code}`` with code ``RESOURCE_NOT_READY`` (400
    ``resourceNotReady``) or ``RESOURCE_OPERATION_RATE_EXCEEDED`` (403
    ``rateLimitExceeded``): that method is refused at once, nothing takes
    effect, with probability ``operation_error_rate`` (default 1).
``operation_delay_seconds``
    a number (every operation) or ``{method: seconds}``: extra time before
    an operation is DONE (slow operations).
``seed``
    seed of the random draws, for repeatable runs.

Each request to which the rates apply draws its numbers in a fixed order
(drop, rate limit, 500, 503, drop after effect), and each operation one more
for ``operation_errors``, so a seeded run repeats for a given sequence of
requests.
"""
import random
import threading

RATE_KEYS = ("drop_rate", "rate_limit_rate", "error500_rate", "error503_rate", "drop_after_effect_rate")
KEYS = set(RATE_KEYS) | {"latency_ms", "methods", "stockout", "zone_capacity", "quota", "quota_mode",
                         "operation_errors", "operation_error_rate", "sync_errors", "operation_delay_seconds", "seed"}
STOCKOUT_CODES = ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS")
OPERATION_CODES = ("RESOURCE_NOT_READY", "RESOURCE_OPERATION_RATE_EXCEEDED", "INTERNAL_ERROR",
                   "QUOTA_EXCEEDED")

SYNC_CODES = {"RESOURCE_NOT_READY": (400, "resourceNotReady", "The resource '{target}' is not ready"),
              "RESOURCE_OPERATION_RATE_EXCEEDED": (403, "rateLimitExceeded",
                                                   "Operation rate exceeded for resource '{target}'. Too "
                                                   "frequent operations from the source resource.")}

# Fault kind -> (HTTP status, reason, message) of the injected answers.
INJECTED = {
    "rate_limit": (429, "rateLimitExceeded", "Rate Limit Exceeded"),
    "error500": (500, "backendError", "Internal error. Please try again or contact Google Support."),
    "error503": (503, "backendError", "The service is currently unavailable."),
}


def _rate(config, key):
    rate = config.get(key, 0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise ValueError(f"{key} must be a number in 0..1")


def validate(config):
    """Raises ValueError for a fault dictionary this module does not understand."""
    if not isinstance(config, dict):
        raise ValueError("faults must be a JSON object")
    unknown = set(config) - KEYS
    if unknown:
        raise ValueError(f"unknown fault keys {sorted(unknown)}; known: {sorted(KEYS)}")
    for key in RATE_KEYS + ("operation_error_rate",):
        _rate(config, key)
    for zone, code in (config.get("stockout") or {}).items():
        if code not in STOCKOUT_CODES:
            raise ValueError(f"stockout[{zone}] must be one of {STOCKOUT_CODES}")
    for key in ("zone_capacity", "quota"):
        for name, n in (config.get(key) or {}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"{key}[{name}] must be a non-negative integer")
    if config.get("quota_mode", "sync") not in ("sync", "operation"):
        raise ValueError("quota_mode must be 'sync' or 'operation'")
    for method, code in (config.get("operation_errors") or {}).items():
        if code not in OPERATION_CODES:
            raise ValueError(f"operation_errors[{method}] must be one of {OPERATION_CODES}")
    for method, code in (config.get("sync_errors") or {}).items():
        if code not in SYNC_CODES:
            raise ValueError(f"sync_errors[{method}] must be one of {sorted(SYNC_CODES)}")
    delay = config.get("operation_delay_seconds", 0)
    values = delay.values() if isinstance(delay, dict) else [delay]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError("operation_delay_seconds must be a non-negative number or {method: number}")
    latency = config.get("latency_ms", 0)
    values = latency.values() if isinstance(latency, dict) else [latency]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError("latency_ms must be a non-negative number or {method: number}")
    methods = config.get("methods")
    if methods is not None and not (isinstance(methods, list) and all(isinstance(m, str) for m in methods)):
        raise ValueError("methods must be a list of method names such as 'instances.insert'")


class Faults:
    """The current fault configuration and its random source (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.set({})

    def set(self, config):
        validate(config)
        with self._lock:
            self._config = dict(config)
            self._rng = random.Random(config.get("seed"))

    def get(self):
        with self._lock:
            return dict(self._config)

    def latency_ms(self, method=None):
        latency = self._config.get("latency_ms", 0)
        if isinstance(latency, dict):
            return float(latency.get(method, 0))
        return float(latency)

    def sync_error(self, method):
        """(status, reason, message template) to refuse this request with, or None."""
        with self._lock:
            code = (self._config.get("sync_errors") or {}).get(method)
            if code is None or not self._applies(method):
                return None
            return SYNC_CODES[code] if self._rng.random() < self._config.get("operation_error_rate", 1) else None

    def _applies(self, method):
        methods = self._config.get("methods")
        return methods is None or method in methods

    def stockout(self, zone):
        return (self._config.get("stockout") or {}).get(zone)

    def zone_capacity(self, zone):
        return (self._config.get("zone_capacity") or {}).get(zone)

    def quota(self):
        return dict(self._config.get("quota") or {}), self._config.get("quota_mode", "sync")

    def operation_delay(self, method):
        delay = self._config.get("operation_delay_seconds", 0)
        if isinstance(delay, dict):
            return float(delay.get(method, 0))
        return float(delay)

    def operation_error(self, method):
        """The error code this method's new operation is to end with, or None."""
        with self._lock:
            code = (self._config.get("operation_errors") or {}).get(method)
            if code is None or not self._applies(method):
                return None
            return code if self._rng.random() < self._config.get("operation_error_rate", 1) else None

    def draw(self, method):
        """(before, after_effect): before is None, "drop", "rate_limit",
        "error500" or "error503"; after_effect True drops the connection once
        the request took effect."""
        with self._lock:
            config = self._config
            if not self._applies(method) or not any(config.get(k) for k in RATE_KEYS):
                return None, False
            draws = {key: self._rng.random() for key in RATE_KEYS}
        for key, kind in (("drop_rate", "drop"), ("rate_limit_rate", "rate_limit"),
                          ("error500_rate", "error500"), ("error503_rate", "error503")):
            if draws[key] < config.get(key, 0):
                return kind, False
        return None, draws["drop_after_effect_rate"] < config.get("drop_after_effect_rate", 0)
