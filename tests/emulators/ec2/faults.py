"""Faults injected on demand: what to do to the next request, decided up front.

Keys of the fault dictionary (``set_faults({})`` clears them all):

``throttle_rate``, ``error500_rate``, ``error503_rate``, ``drop_rate``
    probability (0..1) that a request is answered ``RequestLimitExceeded`` 503,
    ``InternalError`` 500, ``Unavailable`` 503, or has its connection closed
    without an answer. Decided before the action runs: nothing takes effect.
``drop_after_effect_rate``
    probability that the action runs and the connection is then closed without
    an answer (a lost response; a retried ``RunInstances`` must reuse its
    ``ClientToken``).
``latency_ms``
    added delay before every API request is answered.
``capacity_errors``
    ``{zone: "InsufficientInstanceCapacity" | "Unsupported"}``: every
    ``RunInstances`` into that zone fails with that code.
``zone_capacity``
    ``{zone: n}``: at most n live instances in that zone; ``RunInstances``
    launches fewer than ``MaxCount`` when that is all there is room for, and
    fails with ``InsufficientInstanceCapacity`` below ``MinCount``.
``error_shape``
    ``"Response"`` (EC2's, default) or ``"ErrorResponse"`` (generic Query
    shape with ``<Type>``) for every error answer.
``seed``
    seed of the random draws, for repeatable runs.
``actions``
    if given, the rates apply only to these actions.

Each request to which the rates apply draws five numbers in a fixed order
(drop, throttle, 500, 503, drop-after-effect), so a seeded run is repeatable
for a given sequence of requests.
"""
import random
import threading

RATE_KEYS = ("drop_rate", "throttle_rate", "error500_rate", "error503_rate", "drop_after_effect_rate")
KEYS = set(RATE_KEYS) | {"latency_ms", "capacity_errors", "zone_capacity", "error_shape", "seed", "actions"}
CAPACITY_CODES = ("InsufficientInstanceCapacity", "Unsupported")

# Fault kind -> (code, HTTP status, message) for the injected error answers.
INJECTED = {
    "throttle": ("RequestLimitExceeded", 503, "Request limit exceeded."),
    "error500": ("InternalError", 500, "An internal error has occurred"),
    "error503": ("Unavailable", 503, "The service is unavailable. Please try again shortly."),
}


def validate(config):
    """Raises ValueError for a fault dictionary this module does not understand."""
    if not isinstance(config, dict):
        raise ValueError("faults must be a JSON object")
    unknown = set(config) - KEYS
    if unknown:
        raise ValueError(f"unknown fault keys {sorted(unknown)}; known: {sorted(KEYS)}")
    for key in RATE_KEYS:
        rate = config.get(key, 0)
        if not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"{key} must be a number in 0..1")
    for zone, code in (config.get("capacity_errors") or {}).items():
        if code not in CAPACITY_CODES:
            raise ValueError(f"capacity_errors[{zone}] must be one of {CAPACITY_CODES}")
    for zone, n in (config.get("zone_capacity") or {}).items():
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"zone_capacity[{zone}] must be a non-negative integer")
    if config.get("error_shape", "Response") not in ("Response", "ErrorResponse"):
        raise ValueError("error_shape must be 'Response' or 'ErrorResponse'")
    latency = config.get("latency_ms", 0)
    if not isinstance(latency, (int, float)) or latency < 0:
        raise ValueError("latency_ms must be a non-negative number")
    actions = config.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, str) for a in actions)):
        raise ValueError("actions must be a list of action names")


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

    @property
    def latency_ms(self):
        return self._config.get("latency_ms", 0)

    @property
    def error_shape(self):
        return self._config.get("error_shape", "Response")

    def capacity_error(self, zone):
        return (self._config.get("capacity_errors") or {}).get(zone)

    def zone_capacity(self, zone):
        return (self._config.get("zone_capacity") or {}).get(zone)

    def draw(self, action):
        """The fault for this request: (before, after_effect).

        ``before`` is None, "drop", "throttle", "error500" or "error503";
        ``after_effect`` is True when the connection is to be dropped after the
        action took effect."""
        with self._lock:
            config = self._config
            actions = config.get("actions")
            if actions is not None and action not in actions:
                return None, False
            if not any(config.get(k) for k in RATE_KEYS):
                return None, False
            draws = {key: self._rng.random() for key in RATE_KEYS}
        for key, kind in (("drop_rate", "drop"), ("throttle_rate", "throttle"),
                          ("error500_rate", "error500"), ("error503_rate", "error503")):
            if draws[key] < config.get(key, 0):
                return kind, False
        return None, draws["drop_after_effect_rate"] < config.get("drop_after_effect_rate", 0)
