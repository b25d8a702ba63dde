#!/usr/bin/env python3
"""SigV4 signing throughput: raycluster's sigv4-bench against botocore's SigV4Auth.

    .venv/bin/python3 bench/sigv4_bench.py BUILD/bench/auth/sigv4-bench \
        [--n 20000] [--out bench/results/sigv4.txt]

Runs sigv4-bench once with --dump, so both sides sign the very same generated
requests; times botocore's SigV4Auth.add_auth over them (its clock mocked to
each request's time, one pass, the same work as ours: canonical request,
string to sign, key derivation, signature, Authorization header); checks that
every botocore signature equals ours; writes both figures and their ratio.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from unittest import mock

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('bench')
    ap.add_argument('--n', type=int, default=20000)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'results', 'sigv4.txt'))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, 'requests.json')
        run = subprocess.run([args.bench, '--n', str(args.n), '--dump', dump],
                             capture_output=True, text=True, check=True)
        ours_line = run.stdout.strip()
        with open(dump, encoding='utf-8') as f:
            cases = json.load(f)
    m = re.search(r'([0-9]+) signatures/s \(key cache\), ([0-9]+) signatures/s \(no cache\)', ours_line)
    ours_cached, ours_uncached = float(m.group(1)), float(m.group(2))

    # Build the requests and signers outside the timed loop, as ours does.
    prepared = []
    for c in cases:
        req = AWSRequest(method=c['method'], url=c['url'], data=c['body'].encode('utf-8'))
        for name, value in c['headers']:
            req.headers[name] = value
        creds = Credentials(c['access_key'], c['secret_key'], c.get('token'))
        ts = datetime.datetime.fromtimestamp(c['time'], datetime.timezone.utc).replace(tzinfo=None)
        prepared.append((req, SigV4Auth(creds, c['service'], c['region']), ts))

    now = [None]
    with mock.patch('botocore.auth.get_current_datetime', side_effect=lambda: now[0]):
        start = time.perf_counter()
        for req, signer, ts in prepared:
            now[0] = ts
            signer.add_auth(req)
        elapsed = time.perf_counter() - start
    boto_rate = len(prepared) / elapsed

    mismatches = sum(
        not req.headers['Authorization'].endswith('Signature=' + c['signature'])
        for (req, _, _), c in zip(prepared, cases))
    if mismatches:
        print(f'{mismatches} of {len(cases)} botocore signatures differ from ours', file=sys.stderr)
        return 1

    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            cpu = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
    except (OSError, StopIteration):
        pass
    lines = [
        f'SigV4 header signing, {len(cases)} generated EC2 Query API requests '
        '(3/4 POST form bodies, 1/4 GET with query, 1/4 with a session token)',
        f'machine: {cpu}, {os.cpu_count()} cores; {datetime.date.today().isoformat()}',
        f'raycluster sigv4-bench (debugoptimized, OpenSSL {ssl_version()}):',
        f'  {ours_cached:,.0f} signatures/s with a SigningKeyCache',
        f'  {ours_uncached:,.0f} signatures/s deriving the key every time',
        f'botocore {botocore.__version__} SigV4Auth.add_auth (Python {platform.python_version()}):',
        f'  {boto_rate:,.0f} signatures/s',
        f'ratio raycluster/botocore: {ours_cached / boto_rate:.1f}x with the key cache, '
        f'{ours_uncached / boto_rate:.1f}x without',
        f'all {len(cases)} botocore signatures equal ours',
        'note: single runs on a shared 2-core machine (other builds may run at the same '
        'time); the ratio is steadier than the absolute figures',
    ]
    text = '\n'.join(lines) + '\n'
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


def ssl_version():
    try:
        out = subprocess.run(['openssl', 'version'], capture_output=True, text=True, check=True)
        return out.stdout.split()[1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return '?'


if __name__ == '__main__':
    sys.exit(main())
