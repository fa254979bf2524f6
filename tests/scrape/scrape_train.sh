#!/bin/sh
# scrape_train.sh - a fixture scrape feeds `petal train` as it is: two labels scraped from the
# fixture server of test_scrape_run (one photo found for both, so cross_label_duplicates.csv
# exists next to manifest.csv and the hidden lock), then a few training steps of the tiny
# MobileNetV1 0.25/128 on the folder, with no cleanup in between.
set -u
PETAL=${PETAL:-build/petal}
BUILD=${BUILD:-build}
SHARED=${PETAL_SHARED:-../shared}
MODEL=$SHARED/models/mobilenet_v1_0.25_128_quant.tflite
TENSOR=MobilenetV1/Logits/AvgPool_1a/AvgPool
if [ ! -f "$MODEL" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "not ok scrape_train: missing $MODEL (CI=true: missing shared assets are failures)"
    else
        echo "skip scrape_train: missing $MODEL"
    fi
    exit 0
fi
NAME=scrape-train
. tests/scrape/fixture_server.shlib

if ! $PETAL scrape --labels alpha,beta --image_dir "$TMP/photos" --per_class 20 \
    --base_url "http://127.0.0.1:$PORT/w/api.php" --timeout 5 --delay_ms 0 \
    >"$TMP/scrape.out" 2>&1; then
    echo "not ok scrape_train: scrape failed: $(head -5 "$TMP/scrape.out" | tr '\n' '|')"
    exit 0
fi
for f in manifest.csv cross_label_duplicates.csv .scrape.lock; do
    if [ ! -f "$TMP/photos/$f" ]; then
        echo "not ok scrape_train: the scrape left no $f, so this test checks nothing about it"
        exit 0
    fi
done

$PETAL train --image_dir "$TMP/photos" --model "$MODEL" --bottleneck_tensor "$TENSOR" \
    --bottleneck_dir "$TMP/cache" --summaries_dir "$TMP/sums" \
    --output_graph "$TMP/out.tflite" --output_labels "$TMP/labels.txt" \
    --how_many_training_steps 10 --eval_step_interval 5 --train_batch_size 16 \
    --testing_percentage 20 --validation_percentage 10 >"$TMP/train.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    echo "not ok scrape_train: train exited $rc: $(tail -5 "$TMP/train.log" | tr '\n' '|')"
elif ! grep -q "Final test accuracy" "$TMP/train.log"; then
    echo "not ok scrape_train: no 'Final test accuracy' line: $(tail -5 "$TMP/train.log" |
        tr '\n' '|')"
elif grep -qE "manifest|cross_label|scrape\.lock|\.part" "$TMP/train.log"; then
    echo "not ok scrape_train: train looked at scrape's own files: $(grep -E \
        "manifest|cross_label|scrape\.lock|\.part" "$TMP/train.log" | head -3 | tr '\n' '|')"
elif [ "$(cat "$TMP/labels.txt")" != "$(printf 'alpha\nbeta')" ]; then
    echo "not ok scrape_train: labels $(tr '\n' ' ' <"$TMP/labels.txt"), expected alpha beta"
elif [ ! -s "$TMP/out.tflite" ]; then
    echo "not ok scrape_train: no graph written"
else
    echo "ok scrape_train ($(grep -o "Final test accuracy.*" "$TMP/train.log"))"
fi

# Without a test set (--testing_percentage 0) training on the same folder simply succeeds.
$PETAL train --image_dir "$TMP/photos" --model "$MODEL" --bottleneck_tensor "$TENSOR" \
    --bottleneck_dir "$TMP/cache" --summaries_dir "$TMP/sums0" \
    --output_graph "$TMP/out0.tflite" --output_labels "$TMP/labels0.txt" \
    --how_many_training_steps 5 --eval_step_interval 5 --train_batch_size 16 \
    --testing_percentage 0 --validation_percentage 10 >"$TMP/train0.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ -s "$TMP/out0.tflite" ]; then
    echo "ok scrape_train_no_test_set"
else
    echo "not ok scrape_train_no_test_set: train exited $rc: $(tail -5 "$TMP/train0.log" |
        tr '\n' '|')"
fi
