#!/usr/bin/env python3
"""Checks the IAM Query names raycluster sends against botocore's IAM model.

    iam_names.py lib/providers/aws/iam.cpp

Every action the file names (its iam_actions() table and each call site)
must be an operation of botocore's IAM model (service-2, 2010-05-08), every
call site's action must be in the table, and every parameter name the file
sends (a string literal before a value in a QueryParams) must be a member of
some sent action's input shape (list members as Name.member.N, as the query
protocol spells them). Nothing expected is stored: botocore is the reference.
"""
import re
import sys

from botocore.loaders import Loader
from botocore.model import ServiceModel


def main(path):
    text = open(path).read()
    model = ServiceModel(Loader().load_service_model("iam", "service-2"), "iam")
    assert model.api_version == "2010-05-08", model.api_version
    table = re.search(r"iam_actions\(\) \{(.*?)\};", text, re.S).group(1)
    listed = set(re.findall(r'"([A-Za-z]+)"', table))
    called = set(re.findall(r'(?:call|quietly|get)\("([A-Za-z]+)"', text))
    problems = []
    problems += [f"{a}: not an IAM operation" for a in sorted(listed | called) if a not in model.operation_names]
    problems += [f"{a}: called but not in iam_actions()" for a in sorted(called - listed)]
    members = set()
    for action in listed & set(model.operation_names):
        shape = model.operation_model(action).input_shape
        for name, member in (shape.members.items() if shape else []):
            members.add(name)
            if member.type_name == "list":
                members.add(name + ".member")
    sent = set(re.findall(r'(?:emplace_back\(|\{\{)"([A-Za-z.]+)"', text))
    sent |= {re.sub(r"\.$", "", m) for m in re.findall(r'"(Tags\.member\.)"', text)}
    for name in sorted(sent):
        if name not in members:
            problems.append(f"parameter {name}: in no input shape of the actions sent")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok: {len(listed)} IAM actions and {len(sent)} parameter names match botocore's IAM model")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
