#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on its committed corpus and
# prints its figures. The seed is fixed (RAYCLUSTER_FUZZ_SEED, default 1), so
# a run explores the same inputs in the same order on every machine. Fails
# on a crash, a leak, undefined behaviour, a timeout (10 s per input), more
# than 1 GiB of memory, or one allocation over 256 MiB.
#   fuzz/run.sh TARGET CORPUS_DIR [SECONDS]
set -euo pipefail
target=$1
corpus=$2
seconds=${3:-${RAYCLUSTER_FUZZ_SECONDS:-20}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
# New inputs go to a scratch folder; the committed corpus is only read.
here=$(cd "$(dirname "$0")" && pwd)
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}suppressions=$here/ubsan.supp" \
  "$target" "$work/new" "$corpus" \
  -seed="${RAYCLUSTER_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=256 \
  -print_final_stats=1 -artifact_prefix="$work/" >"$work/log" 2>&1
rc=$?
set -e
name=$(basename "$target")
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/log" | tail -1)
echo "$name: ${runs:-0} executions in ${seconds}s, peak RSS ${peak:-?} MB, corpus $(ls "$corpus" | wc -l) seeds"
if [ $rc -ne 0 ]; then
  tail -60 "$work/log"
  for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
    [ -e "$a" ] || continue
    echo "failing input ($(basename "$a")), base64:"
    head -c 4096 "$a" | base64 -w 0
    echo
  done
  exit 1
fi
