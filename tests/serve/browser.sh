#!/bin/sh
# browser.sh - the web page and the training report in Debian's headless Chromium, driven over
# the DevTools protocol by tests/serve/browser/drive.mjs (Node with the `ws` package, installed
# by npm into $BUILD/serve-browser). Screenshots: $BUILD/artifacts/serve-page.png and
# report-page.png.
set -u
. tests/serve/serve.shlib
BUILD=${BUILD:-build}
out="$BUILD/artifacts"
node_dir="$BUILD/serve-browser"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/petal-browser.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    serve_skip browser "chromium, node or npm not installed (make deps installs chromium)"
    exit 0
fi
dir=$(serve_model_dir)
if [ -z "$dir" ]; then
    serve_skip browser "shared models not found (set PETAL_MODEL_DIR)"
    exit 0
fi
report_tool="$BUILD/tests/serve/test_report"
if [ ! -x "$report_tool" ]; then
    echo "not ok browser: $report_tool not built (make tests)"
    exit 1
fi

# The DevTools client library, from the npm registry into build/ (once).
mkdir -p "$node_dir" "$out"
cp tests/serve/browser/package.json tests/serve/browser/package-lock.json \
    tests/serve/browser/drive.mjs "$node_dir"/
if [ ! -d "$node_dir/node_modules/ws" ]; then
    if ! (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm" 2>&1; then
        serve_skip browser "npm ci failed: $(tail -2 "$tmp/npm")"
        exit 0
    fi
fi

model="$dir/mobilenet_v1_0.25_128_quant.tflite"
labels="$dir/imagenet_labels.txt"
photo="$dir/owl.jpg"
if ! serve_start "$tmp/log" --graph "$model" --labels "$labels"; then
    echo "not ok browser: server did not start: $(cat "$tmp/log")"
    exit 1
fi
top1=$(curl -s --data-binary @"$photo" "http://127.0.0.1:$SERVE_PORT/v1/classify" |
    sed -n 's/.*"predictions":\[{"label":"\([^"]*\)".*/\1/p')
"$report_tool" --write-sample "$tmp/report" >/dev/null 2>&1

node "$node_dir/drive.mjs" --chromium "$chromium" --page "http://127.0.0.1:$SERVE_PORT/" \
    --photo "$photo" --top1 "$top1" --report "$tmp/report/report.html" --out "$out"
rc=$?
serve_stop
[ $rc -eq 0 ] || echo "not ok browser: drive.mjs exit $rc"
