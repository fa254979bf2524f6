#!/bin/sh
# info.sh - `petal info --graph`: the text and JSON descriptions of a model, and one-line
# errors (exit 1) for truncated, text and missing files. Uses $PETAL; shared models from
# $PETAL_MODEL_DIR or ../shared/models (skipped when missing and CI is not true).
set -u
PETAL=${PETAL:-build/petal}
TMP="${BUILD:-build}/test-tmp/info-sh-$$"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

ok() { echo "ok $1"; }
bad() { echo "not ok $1: $2"; }

find_model() {
    for d in "${PETAL_MODEL_DIR:-}" models ../shared/models; do
        [ -n "$d" ] && [ -r "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}

# An error run: exit status 1 and exactly one stderr line "petal: error: ... FILE ...".
expect_error() {
    name=$1 file=$2 words=$3
    "$PETAL" info --graph "$file" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    lines=$(wc -l <"$TMP/err")
    if [ "$rc" -ne 1 ]; then
        bad "$name" "exit status $rc"
    elif [ "$lines" -ne 1 ] || ! grep -q "^petal: error: .*$file" "$TMP/err"; then
        bad "$name" "stderr: $(head -3 "$TMP/err")"
    elif ! grep -q "$words" "$TMP/err"; then
        bad "$name" "message does not say '$words': $(cat "$TMP/err")"
    else
        ok "$name"
    fi
}

# A model petal wrote itself (the fuzz seed corpus) works without the shared assets.
SEED=tests/fuzz/corpus/tflite/float_classifier.tflite
if "$PETAL" info --graph "$SEED" >"$TMP/seed" 2>&1 &&
    grep -q '^ops: 7$' "$TMP/seed" && grep -q 'SOFTMAX v1 inputs \[11\] outputs \[12\] beta 1' "$TMP/seed" &&
    grep -q '"fc_w" FLOAT32 3x2 quant - constant 24 bytes' "$TMP/seed"; then
    ok info_seed_model
else
    bad info_seed_model "$(head -5 "$TMP/seed")"
fi

printf 'not a model\n' >"$TMP/text.tflite"
expect_error info_text_file "$TMP/text.tflite" "not a TFLite model"
: >"$TMP/empty.tflite"
expect_error info_empty_file "$TMP/empty.tflite" "empty"
expect_error info_missing_file "$TMP/missing.tflite" "cannot open"
head -c 1000 "$SEED" >"$TMP/cut.tflite"
expect_error info_truncated_seed "$TMP/cut.tflite" "outside\|past the end"

"$PETAL" info >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok info_needs_graph || bad info_needs_graph "exit status $rc"

MODEL=$(find_model mobilenet_v2_1.0_224_quant.tflite)
if [ -z "$MODEL" ]; then
    if [ "${CI:-}" = true ]; then
        bad info_mobilenet "mobilenet_v2_1.0_224_quant.tflite not found (CI=true)"
    else
        echo "skip info_mobilenet: mobilenet_v2_1.0_224_quant.tflite not found"
    fi
    exit 0
fi

"$PETAL" info --graph "$MODEL" >"$TMP/text" 2>"$TMP/err"
if grep -q '^input 0: tensor 0 "input" UINT8 1x224x224x3$' "$TMP/text" &&
    grep -q '^ops: 66$' "$TMP/text" &&
    grep -q '"input" UINT8 1x224x224x3 quant scale 0.0078125 zero_point 128$' "$TMP/text" &&
    grep -q '"MobilenetV2/Logits/AvgPool" UINT8 1x1x1x1280 quant' "$TMP/text" &&
    grep -q 'AVERAGE_POOL_2D v1 .* padding VALID stride 1x1 filter 7x7' "$TMP/text"; then
    ok info_mobilenet_text
else
    bad info_mobilenet_text "$(head -5 "$TMP/text" "$TMP/err")"
fi

"$PETAL" info --graph "$MODEL" --json >"$TMP/json" 2>"$TMP/err"
if [ "$(wc -l <"$TMP/json")" -eq 1 ] && grep -q '^{"model":' "$TMP/json" &&
    grep -q '"name":"MobilenetV2/Logits/AvgPool","type":"UINT8","shape":\[1,1,1,1280\]' "$TMP/json" &&
    grep -q '"inputs":\[0\],"outputs":\[173\]' "$TMP/json"; then
    ok info_mobilenet_json
else
    bad info_mobilenet_json "$(head -c 300 "$TMP/json") $(cat "$TMP/err")"
fi

head -c 2000000 "$MODEL" >"$TMP/half.tflite"
expect_error info_truncated_mobilenet "$TMP/half.tflite" "mobilenet\|half.tflite"
