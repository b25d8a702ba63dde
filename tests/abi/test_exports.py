"""The shared library exports the C ABI and nothing else."""
import os
import re
import subprocess

LIB = os.environ["RAYCLUSTER_LIB"]
HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "raycluster", "raycluster.h")


def defined_dynamic_symbols():
    out = subprocess.run(["nm", "-D", "--defined-only", LIB], check=True,
                         capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            names.append(parts[2].split("@")[0])
    return names


def declared_functions():
    text = open(HEADER).read()
    return set(re.findall(r"RC_API[^;(]*?\b(rc_[a-z0-9_]+)\s*\(", text))


def test_only_rc_symbols_are_exported():
    names = defined_dynamic_symbols()
    assert names, "no symbols at all"
    foreign = [n for n in names if not n.startswith("rc_") and n != "RAYCLUSTER_0"]
    assert foreign == []


def test_every_declared_function_is_exported_and_nothing_more():
    exported = {n for n in defined_dynamic_symbols() if n.startswith("rc_")}
    assert exported == declared_functions()


def test_soname_carries_the_major_version():
    out = subprocess.run(["readelf", "-d", LIB], check=True, capture_output=True, text=True).stdout
    assert re.search(r"SONAME.*\[libraycluster\.so\.0\]", out)
