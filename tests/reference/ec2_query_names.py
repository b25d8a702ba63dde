#!/usr/bin/env python3
"""Check raycluster's EC2 Query-name table and node_config encoding against botocore.

    ec2_query_names.py AWS_TOOL [--cases N] [--seed S]

1. Walks botocore's EC2 model (API 2016-11-15) from RunInstancesRequest at
   test time and compares every reachable shape, member, Query name and
   target shape with the table AWS_TOOL prints (`aws_tool table`).
2. Generates N node_configs that touch every member (nested structures and
   lists, booleans, integers, timestamps), serializes each with botocore's
   own EC2 serializer, and compares the Query parameters with AWS_TOOL's
   (`aws_tool encode`). UserData is left out: boto3 base64-encodes it in an
   event handler, not in the serializer (the unit tests cover it).
Nothing expected is stored: botocore is the reference every run.
"""

import argparse
import datetime
import json
import random
import subprocess
import sys

import botocore.session
from botocore.serialize import create_serializer

ROOT = 'RunInstancesRequest'


def query_name(name, shape):
    ser = shape.serialization
    if 'queryName' in ser:
        return ser['queryName']
    if 'name' in ser:
        return ser['name'][0].upper() + ser['name'][1:]
    return name


KINDS = {'string': 'string', 'boolean': 'boolean', 'integer': 'integer', 'long': 'integer',
         'timestamp': 'timestamp', 'structure': 'structure', 'list': 'list',
         'double': 'number', 'float': 'number', 'blob': 'blob'}


def expected_table(model):
    root = model.operation_model('RunInstances').input_shape
    assert root.name == ROOT, root.name
    table, stack = {}, [root]
    while stack:
        shape = stack.pop()
        if shape.name in table:
            continue
        entry = {'kind': KINDS[shape.type_name]}
        if shape.type_name == 'structure':
            entry['members'] = {}
            for name, member in shape.members.items():
                entry['members'][name] = [query_name(name, member), member.name]
                stack.append(member)
        elif shape.type_name == 'list':
            entry['item'] = shape.member.name
            stack.append(shape.member)
        table[shape.name] = entry
    return table


def sample(shape, rng, depth):
    t = shape.type_name
    if t == 'structure':
        out = {}
        for name, member in shape.members.items():
            if depth == 0 and name == 'UserData':
                continue
            if depth > 6:
                break
            out[name] = sample(member, rng, depth + 1)
        return out
    if t == 'list':
        return [sample(shape.member, rng, depth + 1) for _ in range(rng.randint(1, 2))]
    if t == 'boolean':
        return rng.choice([True, False])
    if t in ('integer', 'long'):
        return rng.randint(0, 5000)
    if t == 'timestamp':
        return datetime.datetime(2030, 1, rng.randint(1, 28), 12, 0, 0, tzinfo=datetime.timezone.utc)
    if t in ('double', 'float'):
        return 0.5
    if shape.enum:
        return rng.choice(shape.enum)
    return rng.choice(['a', 'x y', 'p/q', 'ü', 'sg-0123', '$Latest'])


def as_json(value):
    if isinstance(value, datetime.datetime):
        return value.strftime('%Y-%m-%dT%H:%M:%SZ')
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


def subset(full, rng):
    """A random part of a full sample: each member kept with probability 1/2."""
    if isinstance(full, dict):
        return {k: subset(v, rng) for k, v in full.items() if rng.random() < 0.5 or len(full) == 1}
    if isinstance(full, list):
        return [subset(v, rng) for v in full]
    return full


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tool')
    ap.add_argument('--cases', type=int, default=200)
    ap.add_argument('--seed', type=int, default=7)
    args = ap.parse_args()

    model = botocore.session.get_session().get_service_model('ec2')
    want = expected_table(model)
    got = json.loads(subprocess.run([args.tool, 'table'], check=True, capture_output=True,
                                    text=True).stdout)
    failures = 0
    for name in sorted(set(want) | set(got)):
        if want.get(name) != got.get(name):
            failures += 1
            print(f'shape {name}:\n  botocore:   {json.dumps(want.get(name), sort_keys=True)}\n'
                  f'  raycluster: {json.dumps(got.get(name), sort_keys=True)}')
    if failures:
        print(f'{failures} shape(s) differ; regenerate lib/providers/aws/query_names_table.cpp '
              'with gen_query_names.py')
        return 1
    print(f'table: {len(want)} shapes, '
          f'{sum(len(s.get("members", {})) for s in want.values())} members match botocore')

    rng = random.Random(args.seed)
    op = model.operation_model('RunInstances')
    serializer = create_serializer('ec2', include_validation=False)
    configs = []
    full = sample(op.input_shape, rng, 0)
    configs.append(full)
    for _ in range(args.cases - 1):
        configs.append(subset(full if rng.random() < 0.5 else sample(op.input_shape, rng, 0), rng))
    lines = '\n'.join(json.dumps(as_json(c)) for c in configs) + '\n'
    out = subprocess.run([args.tool, 'encode'], input=lines, check=True, capture_output=True,
                         text=True).stdout.splitlines()
    assert len(out) == len(configs)
    for i, (config, line) in enumerate(zip(configs, out)):
        ours = json.loads(line)
        body = serializer.serialize_to_request(config, op)['body']
        theirs = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in body.items()
                  if k not in ('Action', 'Version')}
        if ours != theirs:
            only_ours = {k: v for k, v in ours.items() if theirs.get(k) != v}
            only_theirs = {k: v for k, v in theirs.items() if ours.get(k) != v}
            print(f'case {i}: encodings differ\n  raycluster only: {only_ours}\n'
                  f'  botocore only:   {only_theirs}')
            return 1
    print(f'encode: {len(configs)} node_configs encode as botocore serializes them')
    return 0


if __name__ == '__main__':
    sys.exit(main())
