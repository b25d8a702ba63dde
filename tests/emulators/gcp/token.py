"""Google's OAuth2 token endpoint and the GCE metadata server's token path.

``TokenService.handle(method, path, headers, body)`` answers

* ``POST /token`` with the two grants a client of Google's APIs uses:
  ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (a service-account key's
  RS256 assertion) and ``refresh_token`` (gcloud's authorized_user file);
* ``GET /computeMetadata/v1/instance/service-accounts/default/token`` (only
  after ``enable_metadata()``; requires ``Metadata-Flavor: Google``);

and returns ``None`` for any other path, so a server can mount it next to
other handlers. Answers have Google's shapes: ``{"access_token",
"expires_in", "token_type": "Bearer"}``, or ``{"error", "error_description"}``
with HTTP 400 (``invalid_grant`` for a bad signature, an unknown key, an
iat/exp outside the allowed window, a bad refresh token) or 401
(``invalid_client``).

An assertion is verified twice, independently: by PyJWT and by google-auth
(``google.auth.jwt.decode``). Both must accept it; a disagreement refuses the
request and says so in ``calls()``. The times (``iat``/``exp`` within
``skew`` of ``now()``, ``exp - iat <= 3600``) are checked against the
service's own clock ``now``, so a test can skew it; when ``now`` is the real
clock both libraries check the times too.

The audience (``aud``) must be Google's ``https://oauth2.googleapis.com/token``
or the URL this service is reached at: ``http://<Host header>/token`` (the
Host header of the request), or any URL given to ``add_audience()``.

Thread-safe: every method may be called from any thread.
"""
import json
import secrets
import threading
import time
import urllib.parse

import google.auth.exceptions
import google.auth.jwt
import jwt

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/token"
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
MAX_LIFETIME = 3600

_TIME_WINDOW = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.")


class _Refused(Exception):
    """A request refused: HTTP status, OAuth error code, description, and the reason for calls()."""

    def __init__(self, status, error, description, reason=None):
        super().__init__(reason or description)
        self.status, self.error, self.description = status, error, description
        self.reason = reason or description


def _json(status, obj, extra_headers=None):
    headers = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}
    headers.update(extra_headers or {})
    return status, headers, json.dumps(obj).encode()


def _header(headers, name):
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key.lower() == name.lower():
            return value
    return None


class TokenService:
    def __init__(self, service_accounts=None, now=time.time, token_lifetime=3600, skew=60):
        """service_accounts: {client_email: public_key_pem}. Accepts assertions signed by those keys."""
        self._lock = threading.Lock()
        self._now = now
        self._real_clock = now is time.time
        self.token_lifetime = int(token_lifetime)
        self.skew = int(skew)
        self._accounts = {}  # client_email -> (public_key_pem, key_id or None)
        self._users = {}  # refresh_token -> (client_id, client_secret)
        self._static = set()
        self._issued = {}  # token -> expiry (the service's clock)
        self._revoked = set()
        self._audiences = {GOOGLE_TOKEN_URI}
        self._metadata = False
        self._metadata_token = None
        self._faults = {"invalid_grant": False, "status": None, "count": None}
        self._calls = []
        for email, pem in (service_accounts or {}).items():
            self.add_service_account(email, pem)

    # ---- registration -------------------------------------------------

    def add_service_account(self, client_email, public_key_pem, key_id=None):
        """Accept assertions from client_email signed by public_key_pem (a public key or a
        certificate in PEM). With key_id, the assertion's header must carry that kid."""
        if isinstance(public_key_pem, bytes):
            public_key_pem = public_key_pem.decode()
        with self._lock:
            self._accounts[client_email] = (public_key_pem, key_id)

    def add_authorized_user(self, client_id, client_secret, refresh_token):
        with self._lock:
            self._users[refresh_token] = (client_id, client_secret)

    def add_static(self, token):
        """A raw access token that check() accepts (Ray's credentials_token)."""
        with self._lock:
            self._static.add(token)

    def add_audience(self, uri):
        """Accept assertions whose aud is uri (besides Google's and http://<Host>/token)."""
        with self._lock:
            self._audiences.add(uri)

    def enable_metadata(self, token=None):
        """Answer the metadata server's token path: with `token` every time (check()
        accepts it), or with a freshly issued token per request when None."""
        with self._lock:
            self._metadata = True
            self._metadata_token = token
            if token is not None:
                self._static.add(token)

    # ---- checks used by the API emulators -----------------------------

    def check(self, authorization):
        """True when `authorization` is 'Bearer <t>' with t issued here (or static), not expired, not revoked."""
        if not authorization or not authorization.startswith("Bearer "):
            return False
        token = authorization[len("Bearer "):].strip()
        with self._lock:
            if token in self._revoked:
                return False
            if token in self._static:
                return True
            expiry = self._issued.get(token)
            return expiry is not None and self._now() < expiry

    def revoke(self, token):
        with self._lock:
            self._revoked.add(token)

    def revoke_all(self):
        with self._lock:
            self._revoked.update(self._issued)
            self._revoked.update(self._static)

    def set_faults(self, invalid_grant=False, status=None, count=None):
        """answer invalid_grant, or an HTTP status, to the next token requests

        The fault holds until set_faults() is called again, or for `count`
        requests when given. `status` applies to the metadata path too."""
        with self._lock:
            self._faults = {"invalid_grant": bool(invalid_grant), "status": status,
                            "count": count}

    def calls(self):
        """list of dicts: grant, client_email/client_id, ok, reason

        grant is "jwt-bearer", "refresh_token", "metadata" or the grant_type
        asked for; reason is None when ok."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def issued(self):
        """The tokens handed out so far (newest last)."""
        with self._lock:
            return list(self._issued)

    # ---- HTTP ---------------------------------------------------------

    def handle(self, method, path, headers, body):
        """(status:int, headers:dict, body:bytes) for POST /token (both grants) and, when
        metadata=True was set via enable_metadata(), GET /computeMetadata/v1/instance/service-accounts/default/token
        (requires Metadata-Flavor: Google); None for any other path."""
        route = urllib.parse.urlsplit(path).path
        if route == TOKEN_PATH:
            if method != "POST":
                return _json(405, {"error": "invalid_request",
                                   "error_description": "token requests must be POST"})
            return self._token(headers, body)
        if route == METADATA_TOKEN_PATH:
            with self._lock:
                enabled = self._metadata
            if not enabled:
                return None
            return self._metadata_answer(method, headers)
        return None

    def _record(self, grant, who_key, who, ok, reason):
        call = {"grant": grant, "client_email": None, "client_id": None, "ok": ok,
                "reason": reason}
        if who_key:
            call[who_key] = who
        with self._lock:
            self._calls.append(call)

    def _take_fault(self, token_request):
        with self._lock:
            f = self._faults
            if not (f["invalid_grant"] and token_request) and f["status"] is None:
                return None
            if f["count"] is not None:
                if f["count"] <= 0:
                    return None
                f["count"] -= 1
            if f["invalid_grant"] and token_request:
                return _Refused(400, "invalid_grant", "Invalid grant: injected fault",
                                "injected invalid_grant")
            return _Refused(int(f["status"]), "internal_failure",
                            "injected HTTP %d" % int(f["status"]),
                            "injected status %d" % int(f["status"]))

    def _issue(self):
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self._lock:
            self._issued[token] = self._now() + self.token_lifetime
        return token

    def _token(self, headers, body):
        if isinstance(body, (bytes, bytearray)):
            body = bytes(body).decode("utf-8", "replace")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body or "", keep_blank_values=True).items()}
        grant_type = form.get("grant_type", "")
        grant = "jwt-bearer" if grant_type == JWT_BEARER else grant_type
        host = _header(headers, "Host")
        who_key, who = None, None
        try:
            if grant_type == JWT_BEARER:
                who_key = "client_email"
                who = self._peek_issuer(form.get("assertion", ""))
                fault = self._take_fault(True)
                if fault:
                    raise fault
                self._verify_assertion(form.get("assertion", ""), host)
            elif grant_type == "refresh_token":
                who_key, who = "client_id", form.get("client_id")
                fault = self._take_fault(True)
                if fault:
                    raise fault
                self._verify_refresh(form)
            else:
                raise _Refused(400, "unsupported_grant_type", "Invalid grant_type: " + grant_type)
        except _Refused as r:
            self._record(grant, who_key, who, False, r.reason)
            return _json(r.status, {"error": r.error, "error_description": r.description})
        token = self._issue()
        self._record(grant, who_key, who, True, None)
        return _json(200, {"access_token": token, "expires_in": self.token_lifetime,
                           "token_type": "Bearer"})

    def _metadata_answer(self, method, headers):
        if method != "GET":
            return 405, {"Content-Type": "text/plain"}, b"Method Not Allowed\n"
        if (_header(headers, "Metadata-Flavor") or "") != "Google":
            self._record("metadata", None, None, False, "missing Metadata-Flavor: Google")
            return (403, {"Content-Type": "text/html; charset=UTF-8"},
                    b"Missing required header: Metadata-Flavor\n")
        fault = self._take_fault(False)
        if fault:
            self._record("metadata", None, None, False, fault.reason)
            return fault.status, {"Content-Type": "text/plain"}, fault.description.encode()
        with self._lock:
            fixed = self._metadata_token
        token = fixed if fixed is not None else self._issue()
        self._record("metadata", None, None, True, None)
        return _json(200, {"access_token": token, "expires_in": self.token_lifetime,
                           "token_type": "Bearer"}, {"Metadata-Flavor": "Google"})

    # ---- the two grants ------------------------------------------------

    @staticmethod
    def _peek_issuer(assertion):
        try:
            return jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return None

    def _audiences_for(self, host):
        with self._lock:
            auds = set(self._audiences)
        if host:
            auds.add("http://%s%s" % (host, TOKEN_PATH))
        return sorted(auds)

    def _verify_assertion(self, assertion, host):
        if not assertion:
            raise _Refused(400, "invalid_request", "Missing required parameter: assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise _Refused(400, "invalid_grant", "Invalid JWT: malformed", "malformed JWT: %s" % e)
        email = claims.get("iss")
        with self._lock:
            account = self._accounts.get(email)
        if account is None:
            raise _Refused(400, "invalid_grant", "Invalid grant: account not found",
                           "unknown service account %r" % (email,))
        pem, key_id = account
        if key_id is not None and header.get("kid") != key_id:
            raise _Refused(400, "invalid_grant", "Invalid JWT Signature.",
                           "kid %r is not the account's key %r" % (header.get("kid"), key_id))
        audiences = self._audiences_for(host)
        pyjwt_error = self._check_pyjwt(assertion, pem, email, audiences)
        gauth_error = self._check_google_auth(assertion, pem, header, audiences)
        if (pyjwt_error is None) != (gauth_error is None):
            raise _Refused(400, "invalid_grant", "Invalid JWT Signature.",
                           "PyJWT and google-auth disagree: PyJWT %s, google-auth %s"
                           % (pyjwt_error or "accepts", gauth_error or "accepts"))
        if pyjwt_error:
            raise _Refused(400, "invalid_grant", pyjwt_error[0],
                           "PyJWT: %s; google-auth: %s" % (pyjwt_error[1], gauth_error[1]))
        self._check_claims(claims)

    def _check_pyjwt(self, assertion, pem, email, audiences):
        """None, or (description for the client, reason)."""
        times = self._real_clock
        try:
            jwt.decode(assertion, key=pem, algorithms=["RS256"], audience=audiences, issuer=email,
                       leeway=self.skew,
                       options={"require": ["iss", "aud", "iat", "exp"], "verify_exp": times,
                                "verify_iat": times, "verify_nbf": times})
            return None
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as e:
            return _TIME_WINDOW, str(e)
        except jwt.InvalidAudienceError as e:
            return "Invalid JWT: audience is not the token endpoint", str(e)
        except jwt.PyJWTError as e:
            return "Invalid JWT Signature.", "%s: %s" % (type(e).__name__, e)

    def _check_google_auth(self, assertion, pem, header, audiences):
        kid = header.get("kid")
        certs = {kid: pem} if kid else pem
        # google-auth reads the real clock; with a test clock it checks
        # signature and audience only (the times are checked against now()).
        skew = self.skew if self._real_clock else 10 * 365 * 86400
        try:
            google.auth.jwt.decode(assertion, certs=certs, verify=True, audience=audiences,
                                   clock_skew_in_seconds=skew)
            return None
        except (ValueError, google.auth.exceptions.GoogleAuthError) as e:
            text = str(e)
            if "too early" in text or "expired" in text:
                return _TIME_WINDOW, text
            return "Invalid JWT Signature.", "%s: %s" % (type(e).__name__, text)

    def _check_claims(self, claims):
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise _Refused(400, "invalid_grant", _TIME_WINDOW, "iat/exp not numbers")
        now = self._now()
        if iat > now + self.skew:
            raise _Refused(400, "invalid_grant", _TIME_WINDOW,
                           "iat %d is in the future (now %d)" % (iat, now))
        if exp < now - self.skew:
            raise _Refused(400, "invalid_grant", _TIME_WINDOW,
                           "exp %d has passed (now %d)" % (exp, now))
        if exp <= iat or exp - iat > MAX_LIFETIME:
            raise _Refused(400, "invalid_grant", _TIME_WINDOW,
                           "exp - iat = %d, not in (0, %d]" % (exp - iat, MAX_LIFETIME))
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            raise _Refused(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.",
                           "no scope claim")

    def _verify_refresh(self, form):
        for name in ("client_id", "client_secret", "refresh_token"):
            if not form.get(name):
                raise _Refused(400, "invalid_request", "Missing required parameter: " + name)
        with self._lock:
            user = self._users.get(form["refresh_token"])
        if user is None:
            raise _Refused(400, "invalid_grant", "Bad Request", "unknown refresh token")
        if user != (form["client_id"], form["client_secret"]):
            raise _Refused(401, "invalid_client", "Unauthorized", "client_id/client_secret mismatch")
