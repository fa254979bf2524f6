#!/bin/sh
# serve.sh - `petal serve` from the command line: flags, the API with curl (raw body and
# multipart) compared with `petal classify --json`, bad requests, one log line per request,
# a busy port, and a clean exit on SIGTERM.
set -u
. tests/serve/serve.shlib
BUILD=${BUILD:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/petal-serve-sh.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$PETAL" serve >/dev/null 2>"$tmp/usage"
rc=$?
if [ $rc -eq 2 ] && grep -q -- "--graph" "$tmp/usage"; then
    echo "ok serve without flags: usage error"
else
    echo "not ok serve without flags: exit $rc"
fi
"$PETAL" serve --graph x --labels y --port 70000 >/dev/null 2>"$tmp/err"
if [ $? -eq 2 ] && grep -q "port" "$tmp/err"; then
    echo "ok serve --port 70000 rejected"
else
    echo "not ok serve --port 70000: $(cat "$tmp/err")"
fi

dir=$(serve_model_dir)
if [ -z "$dir" ]; then
    serve_skip serve "shared models not found (set PETAL_MODEL_DIR)"
    exit 0
fi
model="$dir/mobilenet_v1_0.25_128_quant.tflite"
labels="$dir/imagenet_labels.txt"
photo="$dir/owl.jpg"

if ! serve_start "$tmp/log" --graph "$model" --labels "$labels" --log_level info; then
    echo "not ok serve start: $(cat "$tmp/log")"
    exit 1
fi
url="http://127.0.0.1:$SERVE_PORT"
echo "ok serve started on port $SERVE_PORT"

# Top-1 label and score from a JSON answer ({"predictions":[{"label":..,"score":..},...]).
top1() {
    sed -n 's/.*"predictions":\[{"label":"\([^"]*\)","score":\([0-9.e+-]*\)}.*/\1|\2/p'
}
api=$(curl -s --data-binary @"$photo" "$url/v1/classify" | top1)
form=$(curl -s -F "image=@$photo" "$url/v1/classify?top_k=2" | top1)
cli=$("$PETAL" classify --json --graph "$model" --labels "$labels" --image "$photo" 2>/dev/null |
    top1)
if [ -n "$api" ] && [ "$api" = "$form" ]; then
    echo "ok curl raw body and multipart agree: $api"
else
    echo "not ok curl raw body vs multipart: '$api' vs '$form'"
fi
if [ -n "$cli" ] && [ "${api%%|*}" = "${cli%%|*}" ] &&
    awk -v a="${api##*|}" -v b="${cli##*|}" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'; then
    echo "ok API answer matches petal classify --json ($cli)"
else
    echo "not ok API '$api' vs petal classify --json '$cli'"
fi

code() {
    curl -s -o "$tmp/body" -w '%{http_code}' "$@"
}
check() {
    name=$1
    want=$2
    shift 2
    got=$(code "$@")
    if [ "$got" = "$want" ] && grep -q '"error":' "$tmp/body"; then
        echo "ok $name: $got $(cat "$tmp/body")"
    else
        echo "not ok $name: got $got, wanted $want: $(cat "$tmp/body")"
    fi
}
printf 'not an image' >"$tmp/text"
check "text body" 415 --data-binary @"$tmp/text" "$url/v1/classify"
head -c 3000 "$photo" >"$tmp/cut.jpg"
check "truncated JPEG" 400 --data-binary @"$tmp/cut.jpg" "$url/v1/classify"
check "wrong method" 405 -X PUT --data-binary @"$tmp/text" "$url/v1/classify"
check "unknown path" 404 "$url/favicon.ico"
check "bad top_k" 400 --data-binary @"$photo" "$url/v1/classify?top_k=zero"
check "multipart without image field" 400 -F "photo=@$photo" "$url/v1/classify"
head -c 11000000 /dev/zero >"$tmp/big"
check "11 MB body" 413 --data-binary @"$tmp/big" "$url/v1/classify"
got=$(code "$url/healthz")
[ "$got" = 200 ] && echo "ok still serving after bad requests" ||
    echo "not ok healthz after bad requests: $got"

if grep -q 'POST /v1/classify 200 [0-9.]* ms' "$tmp/log" &&
    grep -q 'PUT /v1/classify 405 [0-9.]* ms' "$tmp/log" &&
    grep -q 'GET /favicon.ico 404 [0-9.]* ms' "$tmp/log"; then
    echo "ok one log line per request (method, path, status, ms)"
else
    echo "not ok request log lines missing: $(tail -5 "$tmp/log")"
fi

"$PETAL" serve --graph "$model" --labels "$labels" --port "$SERVE_PORT" 2>"$tmp/busy" &
busy=$!
i=0
while kill -0 $busy 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 $busy 2>/dev/null; then
    kill $busy
    echo "not ok second server on a busy port kept running"
else
    wait $busy
    rc=$?
    if [ $rc -eq 1 ] && grep -q "in use" "$tmp/busy"; then
        echo "ok busy port: $(cat "$tmp/busy")"
    else
        echo "not ok busy port: exit $rc: $(cat "$tmp/busy")"
    fi
fi

serve_stop
if [ "$SERVE_RC" -eq 0 ] && grep -q "SIGTERM received" "$tmp/log"; then
    echo "ok clean exit on SIGTERM"
else
    echo "not ok exit on SIGTERM: status $SERVE_RC: $(tail -3 "$tmp/log")"
fi
