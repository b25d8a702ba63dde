"""The wheel of the raycluster binding carries libraycluster.so.0.

pyproject.toml holds the metadata; this file adds the build step that
copies the shared library into the package, next to _lib.py, which loads
it from there. The library comes from, in order:

  - $RAYCLUSTER_WHEEL_LIBRARY: a libraycluster.so.0 built already (by
    `ninja -C build` in the checkout, or an installed one), copied as is;
  - otherwise a meson build of the checkout this folder sits in (../..),
    made in a temporary folder: `meson setup --buildtype=release
    -Dtests=false -Dbench=false`, then the library target alone. It needs
    what the C++ build needs (scripts/setup.sh installs it).

The binding is pure Python (ctypes) but the library is native code, so the
wheel is tagged py3-none-<platform>: any Python 3, this platform only. The
library links the system's yaml-cpp, libcurl, OpenSSL, libssh and pugixml,
which the machine that installs the wheel needs too.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 takes it from the wheel package
    from wheel.bdist_wheel import bdist_wheel

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SONAME = "libraycluster.so.0"  # RC_ABI_VERSION 0; _lib.py loads this name


def log(message):
    print(f"raycluster: {message}", file=sys.stderr, flush=True)


def run(argv):
    log(" ".join(argv))
    subprocess.run(argv, check=True)


def library_from_meson(scratch):
    """Builds libraycluster.so.0 from the checkout in `scratch`."""
    if not (ROOT / "meson.build").is_file() or not (ROOT / "capi").is_dir():
        raise SystemExit(
            f"raycluster: {ROOT} is not the raycluster checkout, so the library cannot be "
            "built; set RAYCLUSTER_WHEEL_LIBRARY=/path/to/libraycluster.so.0")
    for tool in ("meson", "ninja"):
        if shutil.which(tool) is None:
            raise SystemExit(f"raycluster: `{tool}` is missing: run scripts/setup.sh, or set "
                             "RAYCLUSTER_WHEEL_LIBRARY=/path/to/libraycluster.so.0")
    build = pathlib.Path(scratch) / "meson"
    run(["meson", "setup", str(build), str(ROOT), "--buildtype=release",
         "-Dtests=false", "-Dbench=false"])
    run(["meson", "compile", "-C", str(build), "capi/raycluster:shared_library"])
    return build / "capi" / SONAME


class build_py_with_library(build_py):
    """build_py, then the shared library into the built package."""

    def run(self):
        super().run()
        target = pathlib.Path(self.build_lib) / "raycluster" / SONAME
        named = os.environ.get("RAYCLUSTER_WHEEL_LIBRARY")
        if named:
            source = pathlib.Path(named)
            if not source.is_file():
                raise SystemExit(f"raycluster: RAYCLUSTER_WHEEL_LIBRARY={named} is not a file")
            self.copy_library(source, target)
            return
        with tempfile.TemporaryDirectory(prefix="raycluster-wheel-") as scratch:
            self.copy_library(library_from_meson(scratch), target)

    @staticmethod
    def copy_library(source, target):
        log(f"bundling {source} as {target}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)  # follows the .so.0 -> .so.0.1.0 link
        target.chmod(0o755)


class PlatformDistribution(Distribution):
    """Holds native code: built into the platform folder, installed into
    platlib, and the wheel is not pure."""

    def has_ext_modules(self):
        return True


class bdist_wheel_any_python(bdist_wheel):
    """No Python extension inside (ctypes loads the library): any Python 3."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=PlatformDistribution,
      cmdclass={"build_py": build_py_with_library, "bdist_wheel": bdist_wheel_any_python})
