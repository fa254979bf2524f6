#!/bin/sh
# run-tests.sh - runs petal's test suite and prints one closing line
# "tests: N passed, N failed, N skipped".
#
#   tools/run-tests.sh BUILD [unit|asan|shell|fuzz|format]...   (default: all of them)
#
# Unit tests are cmocka programs (tests/<area>/test_*.c), run from the release build and
# from the ASan+UBSan build; shell tests (tests/<area>/*.sh) drive build/petal end to end,
# with both builds; fuzz targets (tests/fuzz/fuzz_*.c) run briefly from their corpus.
set -u
BUILD=${1:-build}
shift 2>/dev/null || true
PARTS=${*:-"unit asan shell fuzz format"}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
LOG_DIR="$BUILD/test-logs"
mkdir -p "$LOG_DIR"
passed=0
failed=0
skipped=0
failures=""

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(pwd)/tools/lsan.supp}"

note_fail() {
    failed=$((failed + $2))
    failures="$failures
  $1 (log: $3)"
}

# Runs one cmocka program and adds its counts.
run_cmocka() {
    bin=$1
    log="$LOG_DIR/$(echo "$bin" | tr '/' '_').log"
    "$bin" >"$log" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    passed=$((passed + ${p:-0}))
    skipped=$((skipped + ${s:-0}))
    if [ "$rc" -ne 0 ] || [ -n "$f" ]; then
        note_fail "$bin" "${f:-1}" "$log"
        echo "FAIL $bin"
        grep -E '^\[  (FAILED|  ERROR) \]|ERROR|runtime error|Sanitizer' "$log" | head -20
    else
        echo "ok   $bin (${p:-0} passed${s:+, $s skipped})"
    fi
    if [ -n "$s" ]; then
        grep -i 'skip' "$log" | grep -v '^\[  SKIPPED \]' | sed 's/^/     /' | head -5
    fi
}

run_unit_dir() {
    dir=$1
    [ -d "$dir" ] || { echo "no tests built in $dir"; note_fail "$dir" 1 "-"; return; }
    for bin in $(find "$dir" -type f -name 'test_*' -perm -u+x | sort); do
        run_cmocka "$bin"
    done
}

# Shell tests print "ok NAME", "skip NAME: why" or "not ok NAME: why" lines.
run_shell() {
    petal=$1
    for t in $(find tests -name '*.sh' ! -path 'tests/common/*' | sort); do
        log="$LOG_DIR/$(echo "$t-$petal" | tr '/' '_').log"
        PETAL="$petal" BUILD="$BUILD" sh "$t" >"$log" 2>&1
        rc=$?
        p=$(grep -c '^ok ' "$log")
        f=$(grep -c '^not ok ' "$log")
        s=$(grep -c '^skip ' "$log")
        passed=$((passed + p))
        skipped=$((skipped + s))
        if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
            [ "$f" -eq 0 ] && f=1
            note_fail "$t ($petal)" "$f" "$log"
            echo "FAIL $t with $petal"
            grep -E '^not ok|Sanitizer|runtime error' "$log" | head -20
        else
            echo "ok   $t with $petal ($p passed${s:+, $s skipped})"
        fi
        grep '^skip ' "$log" | sed 's/^/     /' | head -5
    done
}

run_fuzz() {
    fdir="$BUILD/fuzzer/fuzz"
    [ -d "$fdir" ] || { echo "no fuzz targets built in $fdir"; note_fail fuzz 1 "-"; return; }
    for bin in $(find "$fdir" -type f -name 'fuzz_*' -perm -u+x | sort); do
        name=$(basename "$bin")
        corpus="$BUILD/fuzz-corpus/$name"
        mkdir -p "$corpus"
        seeds="tests/fuzz/corpus/${name#fuzz_}"
        [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/ 2>/dev/null
        log="$LOG_DIR/$name.log"
        "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="$BUILD/fuzz-corpus/$name-" "$corpus" >"$log" 2>&1
        if [ $? -ne 0 ]; then
            note_fail "$name" 1 "$log"
            echo "FAIL fuzz $name"
            grep -E 'ERROR|SUMMARY|artifact' "$log" | head -10
        else
            passed=$((passed + 1))
            echo "ok   fuzz $name ($(grep -o 'Done [0-9]* runs' "$log" | tail -1))"
        fi
    done
}

for part in $PARTS; do
    case "$part" in
    unit) run_unit_dir "$BUILD/tests" ;;
    asan) run_unit_dir "$BUILD/asan/tests" ;;
    shell)
        run_shell "$BUILD/petal"
        [ -x "$BUILD/asan/petal" ] && run_shell "$BUILD/asan/petal"
        ;;
    fuzz) run_fuzz ;;
    format)
        if sh tools/check-format.sh >"$LOG_DIR/format.log" 2>&1; then
            passed=$((passed + 1))
            echo "ok   clang-format"
        else
            note_fail clang-format 1 "$LOG_DIR/format.log"
            echo "FAIL clang-format"
            head -20 "$LOG_DIR/format.log"
        fi
        ;;
    *) echo "unknown part $part" ;;
    esac
done

if [ "$failed" -ne 0 ]; then
    echo "failures:$failures"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
