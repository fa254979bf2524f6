#!/bin/sh
# run-bench.sh - runs every benchmark program built in BUILD/bench (bench/*.c); each prints
# its own figures. Benchmarks never fail the build: a crash is reported and the rest run.
#
#   tools/run-bench.sh [BUILD]
set -u
BUILD=${1:-build}
status=0
found=0
for b in "$BUILD"/bench/bench_*; do
    [ -x "$b" ] || continue
    found=1
    echo "== $(basename "$b")"
    if ! "$b"; then
        echo "$(basename "$b"): exited with an error"
        status=1
    fi
done
[ "$found" -eq 1 ] || echo "run-bench: no benchmarks built in $BUILD/bench"
exit $status
