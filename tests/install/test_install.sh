#!/usr/bin/env bash
# The installed raycluster as its users consume it:
#   1. `meson install` of the build into a staging folder (DESTDIR);
#   2. only the public surface is there: raycluster.h, raycluster.hpp, the
#      library and its links, the pkg-config file, the CMake package;
#   3. the C and C++ examples build against it through pkg-config alone,
#      then through CMake's find_package alone (also after the installed
#      tree moved: the CMake package is relocatable);
#   4. the binaries need libraycluster.so.0 and no other library of ours or
#      of the core's dependencies, and run: usage, a missing config and a bad
#      config end with the documented exit status and message;
#   5. `pip install ./bindings/python` into a fresh venv gives a working
#      `import raycluster` with no library path in the environment;
#   6. the installed C++ example and the Python example run from that venv
#      bring a real-Ray localhost cluster up and take it down.
# Prints PASS or FAIL per step; exits 1 if any failed.
#
# Usage: test_install.sh BUILD_DIR SOURCE_ROOT   (meson test --suite install runs it)
set -u -o pipefail
build=$(cd "$1" && pwd)
root=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raycluster-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Nothing from the caller's environment may find the library for us.
unset RAYCLUSTER_LIB RAYCLUSTER_LIBRARY RAYCLUSTER_WHEEL_LIBRARY LD_LIBRARY_PATH PYTHONPATH
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH
CC=${CC:-cc}
CXX=${CXX:-c++}

failures=0
# step NAME COMMAND...: runs COMMAND in a subshell (its cd, exports and exit
# stay there), prints PASS/FAIL with its time, and on failure the end of
# what it printed.
step() {
  local name=$1 start end
  shift
  start=$(date +%s%N)
  if ("$@") >"$tmp/step.log" 2>&1; then
    end=$(date +%s%N)
    printf 'PASS  %-58s %6.1f s\n' "$name" "$(((end - start) / 1000000))e-3"
  else
    end=$(date +%s%N)
    printf 'FAIL  %-58s %6.1f s\n' "$name" "$(((end - start) / 1000000))e-3"
    tail -n 40 "$tmp/step.log" | sed 's/^/      /'
    failures=$((failures + 1))
  fi
}
fail() {  # ends the step
  echo "FAILED: $*" >&2
  exit 1
}

option() {  # the value of a meson option of the build
  meson introspect "$build" --buildoptions |
    python3 -c "import json, sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name'] == '$1'))"
}
prefix=$(option prefix)
libdir=$(option libdir)
includedir=$(option includedir)
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
case $includedir in /*) ;; *) includedir=$prefix/$includedir ;; esac
stage=$tmp/stage
lib=$stage$libdir
inc=$stage$includedir

# --- 1, 2: install, and what got installed ---------------------------------

install_into_stage() {
  meson install -C "$build" --destdir "$stage" --no-rebuild || fail "meson install"
}

only_the_public_surface() {
  local want got
  want=$(printf '%s\n' raycluster/raycluster.h raycluster/raycluster.hpp)
  got=$(cd "$inc" && find . -type f | sed 's|^\./||' | sort)
  [ "$got" = "$want" ] || fail "installed headers: $got (want only: $want)"
  # No header of the core anywhere else either.
  got=$(find "$stage" -type f \( -name '*.h' -o -name '*.hpp' \) ! -path "$inc/raycluster/*")
  [ -z "$got" ] || fail "headers outside $includedir/raycluster: $got"
  for f in libraycluster.so libraycluster.so.0 pkgconfig/raycluster.pc \
           cmake/raycluster/rayclusterConfig.cmake cmake/raycluster/rayclusterConfigVersion.cmake; do
    [ -e "$lib/$f" ] || fail "missing: $libdir/$f"
  done
  [ "$(readlink "$lib/libraycluster.so")" = libraycluster.so.0 ] || fail "libraycluster.so is not a link to .so.0"
  # Only rc_* is exported.
  local others
  others=$(nm -D --defined-only "$lib/libraycluster.so.0" | awk '$2 ~ /[TDBRVW]/ {print $3}' |
           grep -v '^rc_' | grep -v '^RAYCLUSTER_0$' || true)
  [ -z "$others" ] || fail "exported beyond rc_*: $(echo "$others" | head -n 5)"
}

# --- 3, 4: the examples against it ------------------------------------------

# NEEDED of a binary: libraycluster.so.0, and otherwise only the C and C++
# runtimes (not yaml-cpp, curl, OpenSSL, libssh, pugixml: the .so has them).
needs_only_the_library() {
  local needed extra
  needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p') || fail "readelf $1"
  echo "$1 needs: $(echo $needed)"
  echo "$needed" | grep -qx 'libraycluster.so.0' || fail "$1 does not need libraycluster.so.0"
  extra=$(echo "$needed" | grep -vxE 'libraycluster\.so\.0|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux.*' || true)
  [ -z "$extra" ] || fail "$1 also needs: $extra"
}

# The library a binary loads is the installed one ($2: its folder).
loads_the_installed_library() {
  local found
  found=$(ldd "$1" | awk '$1 == "libraycluster.so.0" {print $3}')
  [ "$(readlink -f "$found")" = "$(readlink -f "$2/libraycluster.so.0")" ] ||
    fail "$1 loads libraycluster.so.0 from '$found', not from $2"
}

# A config with a typo on line 7, column 5 (max_wrokers).
cat > "$tmp/bad.yaml" <<'EOF'
cluster_name: bad
provider: {type: localhost}
head_node_type: head
available_node_types:
  head:
    resources: {CPU: 1}
    max_wrokers: 0
EOF

# expect STATUS TEXT COMMAND...: COMMAND exits with STATUS and prints TEXT.
expect() {
  local want=$1 text=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  echo "\$ $* -> $rc: $out"
  [ "$rc" = "$want" ] || fail "exit status $rc, want $want"
  case $out in *"$text"*) ;; *) fail "output lacks: $text" ;; esac
}

# The documented failures of the examples (see their header comments).
runs() {
  local c=$1 cpp=$2
  expect 2 "usage:" "$c"
  expect 2 "usage:" "$cpp"
  expect 1 "load failed (io): cannot open $tmp/missing.yaml" "$c" "$tmp/missing.yaml"
  expect 1 "failed (io): cannot open $tmp/missing.yaml" "$cpp" "$tmp/missing.yaml"
  expect 1 "load: $tmp/bad.yaml:7:5: " "$c" "$tmp/bad.yaml"
  expect 2 "$tmp/bad.yaml:7:5: " "$cpp" "$tmp/bad.yaml"
  expect 2 "did you mean 'max_workers'" "$cpp" "$tmp/bad.yaml"
}

with_pkg_config() {
  # The staged .pc file alone; the sysroot maps its paths into the stage.
  PKG_CONFIG_LIBDIR=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage "$@"
}

build_with_pkg_config() {
  local flags
  flags=$(with_pkg_config pkg-config --cflags --libs raycluster) || fail "pkg-config raycluster"
  echo "pkg-config --cflags --libs raycluster: $flags"
  case $flags in *"$root"*) fail "pkg-config points into the checkout" ;; esac
  mkdir -p "$tmp/pc" && cd "$tmp/pc" || fail "cd $tmp/pc"
  # shellcheck disable=SC2086
  "$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror "$root/examples/c/cluster_lifecycle.c" \
    $flags -o example_c || fail "the C example does not build"
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -Wall -Wextra -Wpedantic -Werror "$root/examples/cpp/cluster_lifecycle.cpp" \
    $flags -o example_cpp || fail "the C++ example does not build"
}

check_pkg_config_binaries() {
  export LD_LIBRARY_PATH=$lib
  for b in "$tmp/pc/example_c" "$tmp/pc/example_cpp"; do
    needs_only_the_library "$b"
    loads_the_installed_library "$b" "$lib"
  done
  runs "$tmp/pc/example_c" "$tmp/pc/example_cpp"
}

# cmake_build DIR PREFIX: configures and builds tests/install/CMakeLists.txt.
cmake_build() {
  cmake -S "$root/tests/install" -B "$1" -DCMAKE_PREFIX_PATH="$2" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$(command -v "$CC")" -DCMAKE_CXX_COMPILER="$(command -v "$CXX")" ||
    fail "cmake: configuring against $2"
  cmake --build "$1" || fail "cmake: the examples do not build"
  local found
  found=$(sed -n 's/^raycluster_DIR:PATH=//p' "$1/CMakeCache.txt")
  [ "$(readlink -f "$found")" = "$(readlink -f "$2${libdir#"$prefix"}/cmake/raycluster")" ] ||
    fail "find_package found raycluster in '$found', not under $2"
}

build_with_cmake() {
  command -v cmake >/dev/null || fail "cmake is missing: run scripts/setup.sh (Debian: cmake)"
  cmake_build "$tmp/cmake" "$stage$prefix"
}

# CMake links the imported library by its full path and gives the build an
# RPATH to it: these run without LD_LIBRARY_PATH.
check_cmake_binaries() {
  for b in "$tmp/cmake/example_c" "$tmp/cmake/example_cpp"; do
    needs_only_the_library "$b"
    loads_the_installed_library "$b" "$lib"
  done
  runs "$tmp/cmake/example_c" "$tmp/cmake/example_cpp"
}

relocated_cmake_package() {
  local moved=$tmp/moved
  mkdir -p "$moved" && mv "$stage$prefix" "$moved/prefix" || fail "mv"
  trap "mv '$moved/prefix' '$stage$prefix'" EXIT  # back, for the steps after
  cmake_build "$tmp/cmake-moved" "$moved/prefix"
  loads_the_installed_library "$tmp/cmake-moved/example_cpp" "$moved/prefix${libdir#"$prefix"}"
  runs "$tmp/cmake-moved/example_c" "$tmp/cmake-moved/example_cpp"
}

# --- 5: the Python wheel -----------------------------------------------------

venv=$tmp/venv
make_venv() {
  python3 -m venv "$venv" || fail "python3 -m venv"
  # setuptools and wheel, to build without an isolated environment (faster).
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "setuptools>=61" wheel ||
    fail "pip install setuptools wheel (from PyPI)"
}

pip_install_binding() {
  cd "$root" || fail "cd $root"
  # The wheel reuses the installed library instead of building its own.
  RAYCLUSTER_WHEEL_LIBRARY=$lib/libraycluster.so.0 \
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation \
    ./bindings/python || fail "pip install ./bindings/python"
  local wheel
  wheel=$(echo "$venv"/lib/python3*/site-packages/raycluster-*.dist-info/WHEEL)
  cat "$wheel"
  grep -qx 'Root-Is-Purelib: false' "$wheel" || fail "the wheel is marked pure"
  grep -qE '^Tag: py3-none-linux_' "$wheel" || fail "the wheel is not tagged py3-none-linux_*"
}

import_from_elsewhere() {
  mkdir -p "$tmp/elsewhere" && cd "$tmp/elsewhere" || fail "cd $tmp/elsewhere"
  "$venv/bin/python" - "$venv" "$tmp/bad.yaml" <<'EOF' || fail "import raycluster"
import pathlib, sys
import raycluster
from raycluster import _lib
venv, bad = sys.argv[1:]
print("raycluster", raycluster.version(), "from", _lib.lib._name)
loaded = pathlib.Path(_lib.lib._name).resolve()
assert loaded.is_relative_to(pathlib.Path(venv).resolve()), f"{loaded} is not the packaged copy"
assert loaded.name == "libraycluster.so.0", loaded
assert raycluster.version() and _lib.lib.rc_abi_version() == raycluster.ABI_VERSION
try:
    raycluster.ClusterSpec.from_file(bad)
except raycluster.ConfigError as e:
    assert (e.file, e.line, e.column) == (bad, 7, 5), (e.file, e.line, e.column)
else:
    raise AssertionError("a bad config loaded")
EOF
}

# --- 6: the installed programs drive a real cluster --------------------------

# runs_a_cluster NAME COMMAND...: COMMAND brings examples/c/cluster.yaml up on
# real Ray (the project's .venv gives the nodes `ray`) and takes it down; no
# node of it is left afterwards.
runs_a_cluster() {
  local name=$1
  shift
  export RAYCLUSTER_HOME=$tmp/home-$name
  export PATH=$root/.venv/bin:$PATH
  cd "$tmp" || fail "cd $tmp"
  timeout 600 "$@" "$root/examples/c/cluster.yaml" || fail "$name: exited $?"
  local left
  left=$("$build/cli/raycluster" status "$root/examples/c/cluster.yaml" --json |
    python3 -c "import json, sys; print(len(json.load(sys.stdin)['nodes']))") ||
    fail "$name: status after it"
  [ "$left" = 0 ] || fail "$name left $left node(s) up"
}

cpp_example_runs_a_cluster() {
  runs_a_cluster cpp "$tmp/cmake/example_cpp"
}

python_example_runs_a_cluster() {
  runs_a_cluster python "$venv/bin/python" "$root/examples/python/up_status_down.py"
}

# --- run ---------------------------------------------------------------------

echo "build: $build (prefix $prefix); staging into $stage"
step "meson install into a staging folder" install_into_stage
step "only raycluster.h, raycluster.hpp, the library, .pc, CMake" only_the_public_surface
step "pkg-config: build the C and C++ examples" build_with_pkg_config
step "pkg-config: binaries need only libraycluster.so.0, run" check_pkg_config_binaries
step "CMake: find_package, build the C and C++ examples" build_with_cmake
step "CMake: binaries need only libraycluster.so.0, run" check_cmake_binaries
step "CMake: the package still works after the prefix moved" relocated_cmake_package
step "pip: a fresh venv with setuptools and wheel" make_venv
step "pip: install ./bindings/python (a platform wheel)" pip_install_binding
step "pip: import raycluster elsewhere, no library path set" import_from_elsewhere
step "CMake: the C++ example brings real Ray up and down" cpp_example_runs_a_cluster
step "pip: the Python example brings real Ray up and down" python_example_runs_a_cluster

if [ $failures -ne 0 ]; then
  echo "$failures step(s) failed"
  exit 1
fi
echo "all steps passed"
