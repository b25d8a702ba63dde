"""Compute's error answers: ``{"error": {"code", "message", "errors": [...]}}``."""
import json

# HTTP status -> the google.rpc status name Compute puts beside the code.
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE"}


class GceError(Exception):
    """A synchronous error answer: HTTP status, reason (``invalid``,
    ``required``, ``notFound``, ``conditionNotMet``...) and message.

    ``fault`` names the injected fault that caused it, if any."""

    def __init__(self, status, reason, message, *, location=None, location_type=None, fault=None,
                 domain="global"):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.location, self.location_type, self.fault, self.domain = location, location_type, fault, domain

    def body(self):
        entry = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.location:
            entry["location"] = self.location
            entry["locationType"] = self.location_type or "parameter"
        error = {"code": self.status, "message": self.message, "errors": [entry]}
        if self.status in STATUS_NAMES:
            error["status"] = STATUS_NAMES[self.status]
        return json.dumps({"error": error}, indent=2).encode()


def invalid(field, value, why):
    return GceError(400, "invalid", f"Invalid value for field '{field}': '{value}'. {why}")


def required(field):
    return GceError(400, "required", f"Required field '{field}' not specified")


def not_found(resource):
    return GceError(404, "notFound", f"The resource '{resource}' was not found")
