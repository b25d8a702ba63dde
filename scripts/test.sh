#!/usr/bin/env bash
# Sets up, then runs every test twice: in a -Werror build (build/) and in an
# ASan+UBSan build (build-asan/); then each libFuzzer target of fuzz/ for a
# bounded time in a clang build (build-fuzz/), and the unit and C ABI suites
# in a ThreadSanitizer build (build-tsan/). Prints one total line at the end.
#   scripts/test.sh            all four builds
#   scripts/test.sh --quick    the -Werror build only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
quick=0
[ "${1:-}" = "--quick" ] && quick=1

start=$SECONDS
MESON_ARGS="--werror" scripts/setup.sh
# setup.sh configures build/ only once; make sure -Werror is on either way.
meson configure build -Dwerror=true >/dev/null
ninja -C build

passed=0
failed=0
phases=""
phase_start=$start
phase() {  # name: records how long the phase that ends here took
  phases="$phases $1=$((SECONDS - phase_start))s"
  phase_start=$SECONDS
}
run_suite() {  # build dir [more meson test arguments]
  local dir=$1 rc=0
  shift
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
  local counts
  counts=$(.venv/bin/python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL"):
        ok += 1
    else:
        bad += 1
print(ok, bad)
PY
)
  passed=$((passed + ${counts% *}))
  failed=$((failed + ${counts#* }))
  return $rc
}

status=0
phase setup+build
run_suite build || status=1
phase tests
if [ $quick -eq 0 ]; then
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
      -Dbench=false
  fi
  ninja -C build-asan
  phase asan-build
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite build-asan || status=1
  phase asan-tests

  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dtests=false -Dbench=false \
      -Db_sanitize=address,undefined -Db_lundef=false
  fi
  ninja -C build-fuzz
  phase fuzz-build
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_suite build-fuzz --verbose || status=1
  phase fuzz

  # The unit and C ABI suites once more under ThreadSanitizer: the HTTP pool,
  # the updater's pool, the autoscaler loop, credential refresh, and the C
  # ABI's callbacks and operations. Only their executables are built.
  if [ ! -f build-tsan/build.ninja ]; then
    meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false
  fi
  ninja -C build-tsan $(ninja -C build-tsan -t targets all |
    sed -n 's#^\(tests/\(unit\|c\)/[^:]*\): c[p]*_LINKER.*#\1#p')
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_suite build-tsan --no-rebuild --suite unit --suite c || status=1
  phase tsan
fi
echo "phases:$phases; total $((SECONDS - start))s"
echo "meson tests: $passed passed, $failed failed"
exit $status
