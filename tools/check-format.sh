#!/bin/sh
# check-format.sh - fails, listing the files, if any tracked C file differs from clang-format.
set -u
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h' 2>/dev/null); do
    [ -f "$f" ] || continue
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "petal: $f is not clang-formatted (run: make format)"
        bad=1
    fi
done
exit $bad
