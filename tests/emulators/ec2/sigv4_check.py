"""Checks a received request's AWS Signature Version 4 with botocore's signer.

The reference is botocore's own ``SigV4Auth``: the received method, URL,
headers and body are put into a ``botocore.awsrequest.AWSRequest`` and
botocore computes the canonical request, the string to sign and the signature
with the known credentials, the emulator's region, service ``ec2`` and the
request's own ``X-Amz-Date``. Only the headers the client listed in
``SignedHeaders`` are given to botocore (the client decides what it signs; a
header added later by an HTTP stack is not part of the signature).

Besides the signature itself this checks what EC2 checks before it: the
``Authorization`` header's form, the access key, the credential scope (date,
region, service), that ``host`` and ``x-amz-date`` are signed, a clock skew of
at most 15 minutes, ``X-Amz-Content-SHA256`` (when sent) against the body,
and the session token when one is configured.
"""
import datetime
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from .errors import Ec2Error

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$")

MAX_SKEW = datetime.timedelta(minutes=15)


class _SignedHeadersOnly(SigV4Auth):
    """botocore's SigV4 signer, restricted to the headers the client signed."""

    def __init__(self, credentials, service, region, signed_names):
        super().__init__(credentials, service, region)
        self._signed_names = signed_names

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self._signed_names:
                header_map[name.lower()] = value
        return header_map


def _auth_failure(message="AWS was not able to validate the provided access credentials"):
    return Ec2Error("AuthFailure", message, status=403)


def credential_scope(headers):
    """(access key id, region, service) of the Authorization header, or Nones."""
    for name, value in headers:
        if name.lower() == "authorization":
            match = _AUTH_RE.match(value)
            parts = match["credential"].split("/") if match else []
            if len(parts) == 5:
                return parts[0], parts[2], parts[3]
    return None, None, None


def check_request(method, path_and_query, headers, body, *, access_key, secret_key,
                  region, session_token=None, now=None, service="ec2", temporary=None):
    """Raises Ec2Error unless the request carries a valid SigV4 signature.

    ``headers`` is a list of (name, value) pairs as received; ``body`` bytes.
    ``temporary``: access key id -> (secret key, session token) of temporary
    credentials also accepted (an instance role's), or None."""
    lower = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    authorization = lower.get("authorization", [None])[0]
    if authorization is None:
        if "X-Amz-Signature=" in path_and_query:
            raise _auth_failure("Query-string (presigned) authentication is not supported here")
        raise Ec2Error("MissingAuthenticationToken",
                       "Request is missing Authentication Token", status=401)
    match = _AUTH_RE.match(authorization)
    if not match:
        raise Ec2Error("IncompleteSignature",
                       f"Authorization header is malformed: {authorization[:80]}", status=400)
    parts = match["credential"].split("/")
    if len(parts) != 5:
        raise Ec2Error("IncompleteSignature", "Credential must have 5 slash-separated parts", status=400)
    key_id, scope_date, scope_region, scope_service, terminator = parts
    if key_id != access_key:
        found = temporary(key_id) if temporary else None
        if found is None:
            raise _auth_failure()
        access_key, (secret_key, session_token) = key_id, found
    amz_date = lower.get("x-amz-date", [None])[0]
    if amz_date is None:
        raise Ec2Error("IncompleteSignature", "X-Amz-Date header is missing", status=400)
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Ec2Error("IncompleteSignature", f"X-Amz-Date {amz_date} is not yyyyMMddTHHmmssZ", status=400) from None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs(now - when) > MAX_SKEW:
        raise Ec2Error("RequestExpired",
                       f"Request has expired. Timestamp date is {amz_date}", status=400)
    if scope_date != amz_date[:8] or terminator != "aws4_request":
        raise Ec2Error("SignatureDoesNotMatch",
                       f"Credential scope {match['credential']} does not match X-Amz-Date {amz_date}", status=403)
    if scope_service != service or scope_region != region:
        raise Ec2Error("SignatureDoesNotMatch",
                       f"Credential should be scoped to a valid region and service: "
                       f"expected {region}/{service}, got {scope_region}/{scope_service}", status=403)
    signed_names = match["signed"].split(";")
    if signed_names != sorted(set(signed_names)) or any(n != n.lower() for n in signed_names):
        raise Ec2Error("SignatureDoesNotMatch", "SignedHeaders must be lower-case and sorted", status=403)
    for required in ("host", "x-amz-date"):
        if required not in signed_names:
            raise Ec2Error("SignatureDoesNotMatch", f"The {required} header must be signed", status=403)
    for name in signed_names:
        if name not in lower:
            raise Ec2Error("SignatureDoesNotMatch", f"Signed header {name} is not in the request", status=403)
    sent_hash = lower.get("x-amz-content-sha256", [None])[0]
    if sent_hash is not None and sent_hash != hashlib.sha256(body).hexdigest():
        raise Ec2Error("XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not match what was computed.",
                       status=400)
    token = lower.get("x-amz-security-token", [None])[0]
    if session_token is not None and token != session_token:
        raise _auth_failure("The security token included in the request is invalid")

    split = urlsplit(path_and_query)
    request = AWSRequest(method=method, url=f"http://{lower['host'][0]}{split.path}",
                         data=body, params=parse_qsl(split.query, keep_blank_values=True))
    for name, value in headers:
        if name.lower() in signed_names:
            request.headers[name] = value  # HTTPHeaders keeps repeated names
    request.context["timestamp"] = amz_date
    signer = _SignedHeadersOnly(Credentials(access_key, secret_key, token), service, region, set(signed_names))
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise Ec2Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            f"The canonical string for this request should have been '{canonical}'",
            status=403)
