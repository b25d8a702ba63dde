#!/usr/bin/env python3
"""Compare raycluster's SigV4 stages with botocore's, stage by stage.

    sigv4_cases.py AUTH_TOOL [--cases N] [--seed S] [--dump FILE]

Generates N requests with a fixed seed (methods, odd paths, repeated and
unsorted query keys, padded and multi-line headers, UTF-8, empty bodies,
session tokens, S3 and non-S3, header and presigned signing), has botocore
compute the canonical request, string to sign, signature and the resulting
Authorization header / presigned query at test time, has AUTH_TOOL (our C++
code) compute the same, and fails on the first difference, showing both sides.
Nothing expected is stored: botocore is the reference every run.
"""

import argparse
import datetime
import json
import random
import subprocess
import sys
from unittest import mock
from urllib.parse import quote

import botocore.auth
from botocore.auth import (
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode

SAFE_QUERY = '-_.~'

HOSTS = [
    # (scheme+authority as written in the URL, service, region)
    ('https://ec2.us-east-1.amazonaws.com', 'ec2', 'us-east-1'),
    ('https://EC2.US-WEST-2.AmazonAWS.com:443', 'ec2', 'us-west-2'),
    ('https://iam.amazonaws.com', 'iam', 'us-east-1'),
    ('https://sts.ap-southeast-2.amazonaws.com', 'sts', 'ap-southeast-2'),
    ('https://abc123.execute-api.eu-west-1.amazonaws.com', 'execute-api', 'eu-west-1'),
    ('http://localhost:4566', 'ec2', 'us-east-1'),
    ('http://127.0.0.1:80', 'ec2', 'eu-north-1'),
    ('https://[::1]:9000', 'ec2', 'us-east-1'),
    ('https://user@compute.example.test:8443', 'my-service', 'local-1'),
]
S3_HOSTS = [
    ('https://bucket.s3.eu-west-1.amazonaws.com', 's3', 'eu-west-1'),
    ('https://s3.us-east-1.amazonaws.com', 's3', 'us-east-1'),
    ('http://localhost:9000', 's3', 'us-east-1'),
]
METHODS = ['GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'get', 'Post']
SEGMENT_CHARS = (
    list('abcXYZ019-_.~') * 3
    + list(" !$&'()*+,;=:@%")
    + ['é', '日本', 'ü', '\U0001f600']
)
QUERY_KEYS = ['Action', 'Version', 'a', 'A', 'a-b', 'a_b', 'b', 'B', 'Filter.1.Name',
              'Filter.1.Value.1', 'prefix', '日本', 'sp ace', '~tilde', 'plus+', 'star*',
              'empty', 'x=y', 'a&b', '']
VALUE_CHARS = list('abcXYZ09-_.~') * 3 + list(" +*=&/?%:@!$'(),;#") + ['é', '€', '𝄞']
HEADER_NAMES = ['Content-Type', 'X-Amz-Target', 'X-Custom', 'x-custom', 'X-CUSTOM',
                'X-Multi', 'X-Padded', 'X-Tab', 'User-Agent', 'Expect', 'X-Amzn-Trace-Id',
                'X-Utf8', 'Range', 'Content-MD5', 'x-amz-meta-owner', 'X-Empty',
                'Authorization', 'X-Amz-Date', 'Content-Length', 'Accept']
HEADER_VALUES = [
    'application/x-amz-json-1.1', 'text/plain', '  padded   value  ', 'a\t\tb',
    'first line\n   second line', 'line1\r\n\tline2', 'café au lait', '', '   ',
    'bytes=0-99', '1B2M2Y8AsgTpgAmY7PhCfg==', 'v1,v2', 'a  b   c', '"quoted  value"',
    'stale-value', 'x' * 80,
]
BODIES = ['', '', '', 'Action=DescribeInstances&Version=2016-11-15', '{"key": "value"}',
          'héllo wörld ✓', 'x' * 3000, '\n']


def rand_text(rng, chars, lo, hi):
    return ''.join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def gen_path(rng, s3):
    segs = [rand_text(rng, SEGMENT_CHARS, 0 if not s3 else 1, 8) for _ in range(rng.randint(0, 4))]
    if not s3:
        # dot segments and empty segments, which normalisation removes
        for _ in range(rng.randint(0, 2)):
            segs.insert(rng.randint(0, len(segs)), rng.choice(['.', '..', '']))
    if s3:
        # the S3 serializer's encoding: once, "/" and "~" kept
        key = '/'.join(segs)
        path = '/' + quote(key, safe='/~')
    else:
        # a path as a client may send it: sub-delims sometimes raw
        safe = rng.choice(['~', "!$'()*+,;=:@~"])
        path = '/' + '/'.join(quote(s, safe=safe) for s in segs)
    if rng.random() < 0.2:
        path += '/'
    return path


def gen_params(rng, unique):
    params = []
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(QUERY_KEYS)
        if unique and any(k == key for k, _ in params):
            continue
        params.append((key, rand_text(rng, VALUE_CHARS, 0, 10)))
        if not unique and rng.random() < 0.25:
            params.append((key, rand_text(rng, VALUE_CHARS, 0, 4)))  # a repeated key
    return params


def noncanonical_encode(rng, s):
    """Percent-encodes s the way a sloppy client might: lower-case hex,
    unreserved characters encoded, query-legal characters left raw."""
    out = []
    for ch in s:
        for b in ch.encode('utf-8'):
            c = chr(b)
            if c.isascii() and (c.isalnum() or c in '-_.~'):
                out.append(c if rng.random() < 0.8 else '%%%02x' % b)
            elif c in "!$'()*,;:@/?" and rng.random() < 0.7:
                out.append(c)
            else:
                out.append(('%%%02x' if rng.random() < 0.5 else '%%%02X') % b)
    return ''.join(out)


def gen_case(rng, i):
    s3 = rng.random() < 0.3
    presign = rng.random() < 0.3
    base, service, region = rng.choice(S3_HOSTS if s3 else HOSTS)
    https = base.startswith('https')
    case = {
        'id': i,
        'method': rng.choice(METHODS),
        'service': service,
        'region': region,
        'access_key': 'AKIA' + rand_text(rng, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16, 16),
        'secret_key': rand_text(rng, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/', 40, 40),
        'time': rng.randint(1420070400, 2051222400),  # 2015 .. 2035
        'normalize_path': not s3,
        'content_sha256_header': s3 and not presign,
        'unsigned_payload': False,
    }
    if rng.random() < 0.4:
        case['token'] = rand_text(rng, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789+/=', 20, 120)
    if presign:
        case['presign_expires'] = rng.choice([1, 60, 900, 3600, 86400, 604800, rng.randint(1, 604800)])
    if s3:
        case['unsigned_payload'] = presign or rng.random() < 0.4
    elif https:
        case['unsigned_payload'] = rng.random() < 0.15

    path = gen_path(rng, s3)
    params = gen_params(rng, unique=presign)
    mode = rng.choice(['url', 'params', 'noncanonical'])
    if presign and mode == 'noncanonical':
        mode = 'params'
    if mode == 'url':
        query = '&'.join(
            percent_encode(k, SAFE_QUERY) + ('' if (v == '' and k != '' and rng.random() < 0.3
                                                    and not presign)
                                             else '=' + percent_encode(v, SAFE_QUERY))
            for k, v in params)
        case['url'] = base + path + ('?' + query if query else '')
        case['botocore'] = {'url': case['url'], 'params': None}
    elif mode == 'params':
        case['url'] = base + path
        case['params'] = [list(p) for p in params]
        case['botocore'] = {'url': case['url'], 'params': params}
    else:
        query = '&'.join(noncanonical_encode(rng, k) + '=' + noncanonical_encode(rng, v)
                         for k, v in params)
        case['url'] = base + path + ('?' + query if query else '')
        case['botocore'] = {'url': base + path, 'params': params}
    if mode == 'params' and not params:
        case['botocore']['params'] = None

    headers = []
    for _ in range(rng.randint(0, 6)):
        name = rng.choice(HEADER_NAMES)
        value = rng.choice(HEADER_VALUES)
        if presign and name.lower() in ('authorization', 'x-amz-date'):
            continue
        if name == 'Content-Type' and value.startswith('application/x-www-form-urlencoded'):
            continue
        headers.append([name, value])
    if rng.random() < 0.1:
        headers.append(['Host', rng.choice(['explicit.example.com', 'Mixed.Case.Host:8080'])])
    case['headers'] = headers
    if not presign:  # botocore moves a presigned request's body into its query
        case['body'] = rng.choice(BODIES)
    return case


def edge_cases(start):
    """Hand-picked corners, signed by botocore like the generated ones."""
    base = {'method': 'GET', 'service': 'ec2', 'region': 'us-east-1',
            'access_key': 'AKIDEXAMPLE', 'secret_key': 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
            'time': 1440938160, 'normalize_path': True, 'content_sha256_header': False,
            'unsigned_payload': False, 'headers': [], 'body': ''}
    variants = [
        {'url': 'https://ec2.amazonaws.com'},                      # no path at all
        {'url': 'https://ec2.amazonaws.com/..'},                   # climbs above the root
        {'url': 'https://ec2.amazonaws.com/a/b/../../..//c/./'},   # everything at once
        {'url': 'https://ec2.amazonaws.com/?a=&a&b=1&a=0'},        # empty values, repeats
        {'url': 'https://ec2.amazonaws.com/?=v&k='},               # empty key
        {'url': 'https://ec2.amazonaws.com/%7Euser/%2525'},        # encoded tilde, percent
        {'url': 'https://ec2.amazonaws.com/', 'headers': [['X-A', ' \t\n ']]},  # blank value
        {'url': 'https://ec2.amazonaws.com/', 'headers': [['X-A', 'b'], ['x-a', 'a'], ['X-A', 'c']]},
        {'url': 'https://ec2.amazonaws.com/', 'headers': [['X-Amz-Content-SHA256', 'abc']]},
        {'url': 'https://s3.amazonaws.com/b//k/./../x', 'service': 's3', 'normalize_path': False,
         'content_sha256_header': True},
        {'url': 'https://s3.amazonaws.com/b/%E6%97%A5%20%2B', 'service': 's3',
         'normalize_path': False, 'unsigned_payload': True, 'presign_expires': 604800,
         'token': 'tok/+='},
        {'url': 'https://ec2.amazonaws.com/?Action=X', 'presign_expires': 1, 'token': 'a b'},
    ]
    cases = []
    for n, v in enumerate(variants):
        c = dict(base, id=start + n, **v)
        if 'presign_expires' in c:
            c.pop('body')
        c['botocore'] = {'url': c['url'], 'params': None}
        cases.append(c)
    return cases


def botocore_stages(case):
    b = case['botocore']
    creds = Credentials(case['access_key'], case['secret_key'], case.get('token'))
    s3 = not case['normalize_path']
    presign = 'presign_expires' in case
    if presign:
        cls = S3SigV4QueryAuth if s3 else SigV4QueryAuth
        signer = cls(creds, case['service'], case['region'], expires=case['presign_expires'])
    else:
        cls = S3SigV4Auth if s3 else SigV4Auth
        signer = cls(creds, case['service'], case['region'])

    def make_request():
        req = AWSRequest(method=case['method'], url=b['url'],
                         data=case.get('body', '').encode('utf-8'), params=b['params'])
        for name, value in case['headers']:
            req.headers[name] = value  # HTTPHeaders appends: repeats stay repeats
        if s3:
            req.context['client_config'] = Config(
                s3={'payload_signing_enabled': not case['unsigned_payload']})
        elif case['unsigned_payload']:
            req.context['payload_signing_enabled'] = False
        return req

    ts = datetime.datetime.fromtimestamp(case['time'], datetime.timezone.utc)
    stamp = ts.strftime(botocore.auth.SIGV4_TIMESTAMP)

    # Stage by stage, exactly as SigV4Auth.add_auth runs them.
    req = make_request()
    req.context['timestamp'] = stamp
    signer._modify_request_before_signing(req)
    cr = signer.canonical_request(req)
    sts = signer.string_to_sign(req, cr)
    sig = signer.signature(sts, req)
    signer._inject_signature_to_request(req, sig)

    # And botocore's own add_auth at the same (mocked) time must agree with the replay.
    whole = make_request()
    with mock.patch('botocore.auth.get_current_datetime', return_value=ts.replace(tzinfo=None)):
        signer.add_auth(whole)
    if presign:
        assert whole.url == req.url, (whole.url, req.url)
    else:
        assert whole.headers['Authorization'] == req.headers['Authorization']

    out = {'canonical_request': cr, 'string_to_sign': sts, 'signature': sig}
    if presign:
        query = req.url.split('?', 1)[1]
        out['query'] = sorted(query.split('&'))
        out['authorization'] = ''
    else:
        out['authorization'] = req.headers['Authorization']
        out['headers'] = sorted([n.lower(), v] for n, v in req.headers.items())
    return out


def ours_compared(case, ours):
    out = {k: ours.get(k) for k in ('canonical_request', 'string_to_sign', 'signature',
                                     'authorization')}
    if 'presign_expires' in case:
        out['query'] = sorted(ours['query_string'].split('&'))
    else:
        out['headers'] = sorted([n.lower(), v] for n, v in ours['headers'])
    return out


def show(case, stage, theirs, ours):
    shown = {k: v for k, v in case.items() if k != 'botocore'}
    print(f'FIRST DIFFERENCE: case {case["id"]}, stage "{stage}"', file=sys.stderr)
    print('case: ' + json.dumps(shown, ensure_ascii=False, indent=1), file=sys.stderr)
    print(f'botocore {stage}:\n{theirs!r}\n', file=sys.stderr)
    print(f'ours     {stage}:\n{ours!r}\n', file=sys.stderr)
    if isinstance(theirs, str) and isinstance(ours, str):
        for n, (a, b) in enumerate(zip(theirs.split('\n'), ours.split('\n'))):
            if a != b:
                print(f'line {n}: botocore {a!r}\n        ours     {b!r}', file=sys.stderr)
                break


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('auth_tool')
    ap.add_argument('--cases', type=int, default=600)
    ap.add_argument('--seed', type=int, default=20251125)
    ap.add_argument('--dump', help='also write the generated cases to this file')
    args = ap.parse_args()

    rng = random.Random(args.seed)
    cases = [gen_case(rng, i) for i in range(args.cases)]
    cases += edge_cases(len(cases))
    tool_input = json.dumps([{k: v for k, v in c.items() if k != 'botocore'} for c in cases])
    if args.dump:
        with open(args.dump, 'w', encoding='utf-8') as f:
            f.write(tool_input)
    run = subprocess.run([args.auth_tool], input=tool_input.encode('utf-8'),
                         capture_output=True, check=False)
    if run.returncode != 0:
        print(f'auth_tool failed ({run.returncode}): {run.stderr.decode(errors="replace")}',
              file=sys.stderr)
        return 1
    results = json.loads(run.stdout.decode('utf-8'))
    if len(results) != len(cases):
        print(f'auth_tool returned {len(results)} results for {len(cases)} cases', file=sys.stderr)
        return 1

    stages = ['canonical_request', 'string_to_sign', 'signature', 'authorization', 'query',
              'headers']
    counts = {'presign': 0, 'header': 0, 's3': 0, 'token': 0, 'unsigned': 0}
    for case, ours in zip(cases, results):
        if 'error' in ours:
            show(case, 'error', '(botocore signs it)', ours['error'])
            return 1
        theirs = botocore_stages(case)
        mine = ours_compared(case, ours)
        for stage in stages:
            if stage in theirs and theirs[stage] != mine.get(stage):
                show(case, stage, theirs[stage], mine.get(stage))
                return 1
        counts['presign' if 'presign_expires' in case else 'header'] += 1
        counts['s3'] += not case['normalize_path']
        counts['token'] += 'token' in case
        counts['unsigned'] += case['unsigned_payload']
    print(f'{len(cases)} cases identical to botocore {botocore.__version__} at every stage '
          f'({counts["header"]} header-signed, {counts["presign"]} presigned, {counts["s3"]} S3, '
          f'{counts["token"]} with a session token, {counts["unsigned"]} UNSIGNED-PAYLOAD)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
