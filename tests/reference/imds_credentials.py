#!/usr/bin/env python3
"""Compare raycluster's instance-metadata credentials with botocore's.

    imds_credentials.py CREDS_TOOL

Serves IMDSv2 on a loopback port (a token PUT, the role list, the role's
credentials; GETs without the session token are refused with 401, as an
instance that requires IMDSv2 does), then resolves credentials three ways:
botocore's InstanceMetadataFetcher + InstanceMetadataProvider given the
endpoint as a constructor argument, a whole botocore Session (its default
chain) given the endpoint through AWS_EC2_METADATA_SERVICE_ENDPOINT, and
CREDS_TOOL (our make_aws_credentials_source through libcurl) given the same
environment. They must agree on the access key id, the expiry and the
requests made (method, path, token TTL header, session token). A second
scenario serves an error document instead of credentials: no side may
find credentials. Nothing expected is stored: botocore is the reference
every run. Only loopback traffic.
"""

import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.credentials import InstanceMetadataProvider
from botocore.utils import InstanceMetadataFetcher

ROLE = 'raycluster-head'
CREDS_PATH = '/latest/meta-data/iam/security-credentials/'


class Imds:
    def __init__(self, error_document=False):
        self.lock = threading.Lock()
        self.requests = []
        self.tokens = set()
        self.error_document = error_document
        self.key_id = 'ASIA' + secrets.token_hex(8).upper()
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self.expiration = now + datetime.timedelta(hours=6)

    def handler(imds):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body=b'', ctype='text/plain'):
                self.send_response(status)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self):
                token = self.headers.get('x-aws-ec2-metadata-token')
                with imds.lock:
                    imds.requests.append({
                        'method': self.command,
                        'path': self.path,
                        'ttl': self.headers.get('x-aws-ec2-metadata-token-ttl-seconds'),
                        'token': None if token is None else (token in imds.tokens),
                    })
                return token

            def do_PUT(self):
                self._record()
                length = int(self.headers.get('Content-Length') or 0)
                if length:
                    self.rfile.read(length)
                if self.path != '/latest/api/token':
                    return self._answer(404)
                ttl = self.headers.get('x-aws-ec2-metadata-token-ttl-seconds')
                if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    return self._answer(400)
                token = 'imds-' + secrets.token_urlsafe(24)
                with imds.lock:
                    imds.tokens.add(token)
                self._answer(200, token.encode())

            def do_GET(self):
                token = self._record()
                if token not in imds.tokens:
                    return self._answer(401)
                if self.path == CREDS_PATH:
                    return self._answer(200, ROLE.encode())
                if self.path == CREDS_PATH + ROLE:
                    if imds.error_document:
                        doc = {'Code': 'AssumeRoleUnauthorizedAccess',
                               'Message': 'EC2 cannot assume the role',
                               'LastUpdated': '2026-01-01T00:00:00Z'}
                    else:
                        doc = {'Code': 'Success', 'LastUpdated': '2026-01-01T00:00:00Z',
                               'Type': 'AWS-HMAC', 'AccessKeyId': imds.key_id,
                               'SecretAccessKey': secrets.token_urlsafe(30),
                               'Token': secrets.token_urlsafe(60),
                               'Expiration': imds.expiration.strftime('%Y-%m-%dT%H:%M:%SZ')}
                    return self._answer(200, json.dumps(doc).encode(), 'application/json')
                self._answer(404)

        return Handler

    def take_requests(self):
        with self.lock:
            out, self.requests = self.requests, []
        return out


def clean_env(home, endpoint):
    """The environment both sides see: no credentials but IMDS at `endpoint`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('AWS_') and k.lower() not in ('http_proxy', 'https_proxy', 'all_proxy')
           and not k.startswith('BOTO')}
    env.update({
        'HOME': home,
        'AWS_SHARED_CREDENTIALS_FILE': os.path.join(home, 'no-credentials'),
        'AWS_CONFIG_FILE': os.path.join(home, 'no-config'),
        'BOTO_CONFIG': os.path.join(home, 'no-boto'),
        'AWS_EC2_METADATA_SERVICE_ENDPOINT': endpoint,
        'NO_PROXY': '*',
    })
    return env


def botocore_direct(endpoint):
    fetcher = InstanceMetadataFetcher(timeout=1, num_attempts=1, env={},
                                      config={'ec2_metadata_service_endpoint': endpoint})
    return InstanceMetadataProvider(iam_role_fetcher=fetcher).load()


def botocore_session(env):
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return botocore.session.Session().get_credentials()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def summary(creds):
    if creds is None:
        return None
    frozen = creds.get_frozen_credentials()
    expiry = getattr(creds, '_expiry_time', None)
    return {'access_key_id': frozen.access_key,
            'has_secret': bool(frozen.secret_key),
            'has_token': bool(frozen.token),
            'expires_at': None if expiry is None else int(expiry.timestamp())}


def ours(tool, env):
    run = subprocess.run([tool], env=env, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        raise SystemExit(f'{tool} failed ({run.returncode}): {run.stderr}')
    out = json.loads(run.stdout)
    if not out['ok']:
        return None, out
    return {k: out[k] for k in ('access_key_id', 'has_secret', 'has_token', 'expires_at')}, out


def scenario(tool, error_document):
    imds = Imds(error_document)
    server = ThreadingHTTPServer(('127.0.0.1', 0), imds.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f'http://127.0.0.1:{server.server_address[1]}'
    failures = []
    try:
        with tempfile.TemporaryDirectory() as home:
            env = clean_env(home, endpoint)
            sides = {}
            sides['botocore fetcher'] = (summary(botocore_direct(endpoint)), imds.take_requests())
            sides['botocore session'] = (summary(botocore_session(env)), imds.take_requests())
            our, raw = ours(tool, env)
            sides['raycluster'] = (our, imds.take_requests())
    finally:
        server.shutdown()
        server.server_close()

    name = 'error document' if error_document else 'credentials'
    ref_creds, ref_requests = sides['botocore fetcher']
    if error_document:
        if ref_creds is not None:
            failures.append(f'{name}: botocore found credentials: {ref_creds}')
        if raw.get('ok') or raw.get('code') != 'auth' or 'AssumeRoleUnauthorizedAccess' not in raw.get('error', ''):
            failures.append(f'{name}: raycluster should fail naming the code: {raw}')
    else:
        want = {'access_key_id': imds.key_id, 'has_secret': True, 'has_token': True,
                'expires_at': int(imds.expiration.timestamp())}
        if ref_creds != want:
            failures.append(f'{name}: botocore disagrees with the server: {ref_creds} != {want}')
        if raw.get('source') != f'instance metadata role {ROLE}':
            failures.append(f'{name}: raycluster source: {raw}')
    for side, (creds, requests) in sides.items():
        if creds != ref_creds:
            failures.append(f'{name}: {side} resolved {creds}, botocore fetcher {ref_creds}')
        if requests != ref_requests:
            failures.append(f'{name}: {side} requests differ:\n  {side}: {requests}\n'
                            f'  botocore fetcher: {ref_requests}')
    if not ref_requests or ref_requests[0]['method'] != 'PUT' or len(ref_requests) != 3:
        failures.append(f'{name}: unexpected reference requests {ref_requests}')
    print(f'{name}: {len(sides)} sides, requests {[(r["method"], r["path"]) for r in ref_requests]}')
    return failures


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    failures = []
    for error_document in (False, True):
        failures += scenario(sys.argv[1], error_document)
    for f in failures:
        print('FAIL', f)
    if not failures:
        print('ok: raycluster and botocore agree')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
