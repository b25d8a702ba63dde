#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and test raycluster:
#   1. the Debian packages the build and the tests need (only missing ones),
#   2. the project's virtual environment .venv/ with the pinned Python tools
#      of requirements-dev.txt (Ray among them),
#   3. a meson build in build/ (or $BUILD_DIR), compiled.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

packages=(
  g++ pkg-config meson ninja-build git
  libyaml-cpp-dev libcurl4-openssl-dev libssl-dev rapidjson-dev libssh-dev doctest-dev
  libpugixml-dev
  python3 python3-venv python3-dev
  openssh-server openssh-client procps iproute2 binutils
  cmake  # tests/install builds the examples through find_package(raycluster)
  rsync  # tests only: the reference the file-mount filter (rsync_exclude, rsync_filter) is compared with
  podman runc  # tests/containers: `docker:` with use_podman (runc: the runtime the test configures)
  clang libclang-rt-14-dev  # fuzz/: libFuzzer targets
)
# Node.js runs the IDE-plugin example; a node already on PATH (from elsewhere) is kept.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The venv is built from Debian's python3 so that it is the same on every machine.
PY=/usr/bin/python3
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python3 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv with the pinned Python tools (Ray, botocore, moto, PyJWT, pytest)"
  [ -x .venv/bin/python3 ] || "$PY" -m venv .venv
  .venv/bin/python3 -m pip install -q --upgrade pip
  .venv/bin/python3 -m pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  log "configuring $BUILD_DIR"
  meson setup "$BUILD_DIR" ${MESON_ARGS:-}
fi
log "building $BUILD_DIR"
ninja -C "$BUILD_DIR"
