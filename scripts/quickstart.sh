#!/usr/bin/env bash
# Sets up, then brings up the localhost example (a real Ray head and two
# workers on this machine) and prints its status. Take it down with:
#   PATH=$PWD/.venv/bin:$PATH build/cli/raycluster down examples/localhost/cluster.yaml -y
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=$PWD/.venv/bin:$PATH
build/cli/raycluster up examples/localhost/cluster.yaml -y
build/cli/raycluster status examples/localhost/cluster.yaml
