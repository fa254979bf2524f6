#!/bin/sh
# report.sh - `petal train --report` and `petal evaluate --report` end to end on a small copy of
# flowers5 with the tiny MobileNetV1 0.25/128: one self-contained HTML page (no external
# assets) with the curves as inline SVG, every class name, the test accuracy and misclassified
# photos the log reports, JPEG thumbnails as data: URIs; without a test set the page says so
# and keeps the curves; evaluate's page has no curves. Prints ok / not ok / skip lines.
set -u
PETAL=${PETAL:-build/petal}
BUILD=${BUILD:-build}
SHARED=${PETAL_SHARED:-../shared}
MODEL=$SHARED/models/mobilenet_v1_0.25_128_quant.tflite
TENSOR=MobilenetV1/Logits/AvgPool_1a/AvgPool
FLOWERS=$SHARED/data/flowers5
CLASSES="daisy dandelion roses sunflowers tulips"

if [ ! -f "$MODEL" ] || [ ! -d "$FLOWERS" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "not ok report: missing $MODEL or $FLOWERS (CI=true: missing shared assets are failures)"
    else
        echo "skip report: missing $MODEL or $FLOWERS"
    fi
    exit 0
fi

TMP=$BUILD/test-tmp/report-sh-$$
rm -rf "$TMP"
mkdir -p "$TMP/data" "$TMP/small"
trap 'rm -rf "$TMP"' EXIT
# 16 training photos per class (sorted names) and 4 others per class for evaluate.
for c in $CLASSES; do
    mkdir -p "$TMP/data/$c" "$TMP/small/$c"
    ls "$FLOWERS/$c" | sort | head -16 | while read -r f; do cp "$FLOWERS/$c/$f" "$TMP/data/$c/"; done
    ls "$FLOWERS/$c" | sort | tail -4 | while read -r f; do cp "$FLOWERS/$c/$f" "$TMP/small/$c/"; done
done

train() {
    "$PETAL" train --image_dir "$TMP/data" --model "$MODEL" --bottleneck_tensor "$TENSOR" \
        --bottleneck_dir "$TMP/cache" --how_many_training_steps 60 --eval_step_interval 20 \
        --learning_rate 0.05 --validation_percentage 10 --summaries_dir "" "$@"
}

# No http(s) or protocol-relative src/href/url(): the page needs nothing from elsewhere.
self_contained() {
    ! grep -Eiq "(src|href|action)[[:space:]]*=[[:space:]]*[\"']?[[:space:]]*(https?:)?//|url\([\"']?[[:space:]]*(https?:)?//|<link|<script[^>]*src" "$1"
}

has_classes() {
    for c in $CLASSES; do
        grep -q ">[^<]*$c" "$1" || return 1
    done
}

# Misclassified photos the page lists, from its heading "Misclassified photos (N)".
page_misses() {
    sed -n 's/.*Misclassified photos (\([0-9]*\)).*/\1/p' "$1" | head -1
}

# ---- petal train --report ----
train --testing_percentage 25 --output_graph "$TMP/out.tflite" --output_labels "$TMP/labels.txt" \
    --print_misclassified_test_images --report "$TMP/train.html" >"$TMP/log" 2>&1
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$TMP/train.html" ]; then
    echo "not ok train_report_written: exit $rc: $(tail -3 "$TMP/log")"
    exit 0
fi
echo "ok train_report_written"
grep -q "Wrote the training report to $TMP/train.html" "$TMP/log" && echo "ok train_report_logged" ||
    echo "not ok train_report_logged: $(tail -3 "$TMP/log")"

self_contained "$TMP/train.html" && echo "ok train_report_self_contained" ||
    echo "not ok train_report_self_contained: $(grep -Eio '(src|href)=.{0,40}' "$TMP/train.html" | grep -v 'data:' | head -3)"

n_svg=$(grep -o '<svg' "$TMP/train.html" | wc -l)
n_points=$(grep -c 'Step [0-9]*: Train accuracy' "$TMP/log")
grep -q 'id="curves"' "$TMP/train.html" && [ "$n_svg" -ge 2 ] && [ "$n_points" -eq 4 ] &&
    echo "ok train_report_curves_svg" ||
    echo "not ok train_report_curves_svg: $n_svg svg charts, $n_points logged steps"

has_classes "$TMP/train.html" && grep -q 'id="confusion"' "$TMP/train.html" &&
    grep -q 'id="per-class"' "$TMP/train.html" && echo "ok train_report_classes" ||
    echo "not ok train_report_classes: $(grep -o '<h2>[^<]*' "$TMP/train.html" | tr '\n' ' ')"

log_acc=$(sed -n 's/.*Final test accuracy = \([0-9.]*% (N=[0-9]*)\).*/\1/p' "$TMP/log")
page_acc=$(sed -n 's/.*Test accuracy = \([0-9.]*% (N=[0-9]*)\).*/\1/p' "$TMP/train.html" | head -1)
[ -n "$log_acc" ] && [ "$log_acc" = "$page_acc" ] && echo "ok train_report_test_accuracy" ||
    echo "not ok train_report_test_accuracy: log '$log_acc', page '$page_acc'"

# The page lists the photos the log lists as misclassified, each with a thumbnail.
log_misses=$(sed -n '/=== MISCLASSIFIED TEST IMAGES ===/,$p' "$TMP/log" | grep -c "$TMP/data/")
n_misses=$(page_misses "$TMP/train.html")
n_thumbs=$(grep -o 'src="data:image/jpeg;base64,' "$TMP/train.html" | wc -l)
missing=""
for p in $(sed -n '/=== MISCLASSIFIED TEST IMAGES ===/,$p' "$TMP/log" | grep -o "$TMP/data/[^ ]*"); do
    grep -q "$(basename "$p")" "$TMP/train.html" || missing="$missing $p"
done
if [ "$n_misses" = "$log_misses" ] && [ "$n_thumbs" -eq "$n_misses" ] && [ -z "$missing" ]; then
    echo "ok train_report_misclassified ($n_misses photos)"
else
    echo "not ok train_report_misclassified: page $n_misses, log $log_misses, $n_thumbs thumbnails, missing$missing"
fi
[ "$log_misses" -gt 0 ] 2>/dev/null && echo "ok train_report_has_thumbnails" ||
    echo "skip train_report_has_thumbnails: the test set had no misclassified photo"

# ---- no test set: the page says so and keeps the curves ----
train --testing_percentage 0 --output_graph "" --output_labels "" \
    --report "$TMP/notest.html" >"$TMP/log0" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q 'no test set' "$TMP/notest.html" && grep -q '<svg' "$TMP/notest.html" &&
    ! grep -q 'id="confusion"' "$TMP/notest.html" && has_classes "$TMP/notest.html"; then
    echo "ok train_report_without_test_set"
else
    echo "not ok train_report_without_test_set: exit $rc: $(grep -o '<h2>[^<]*' "$TMP/notest.html" 2>/dev/null | tr '\n' ' ') $(tail -2 "$TMP/log0")"
fi

# ---- an unwritable report path fails the run with one error line naming it ----
train --testing_percentage 25 --output_graph "" --output_labels "" \
    --report "$TMP/no/such/dir/r.html" >"$TMP/logbad" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "petal: error: .*$TMP/no/such/dir" "$TMP/logbad" &&
    echo "ok train_report_bad_path" ||
    echo "not ok train_report_bad_path: exit $rc: $(tail -2 "$TMP/logbad")"

# ---- petal evaluate --report ----
"$PETAL" evaluate --graph "$TMP/out.tflite" --labels "$TMP/labels.txt" --image_dir "$TMP/small" \
    --json --report "$TMP/eval.html" >"$TMP/eval.json" 2>"$TMP/eval.err"
rc=$?
if [ $rc -ne 0 ] || [ ! -s "$TMP/eval.html" ]; then
    echo "not ok evaluate_report_written: exit $rc: $(head -3 "$TMP/eval.err")"
    exit 0
fi
echo "ok evaluate_report_written"
self_contained "$TMP/eval.html" && has_classes "$TMP/eval.html" &&
    grep -q 'id="confusion"' "$TMP/eval.html" && ! grep -q 'id="curves"' "$TMP/eval.html" &&
    echo "ok evaluate_report_page" ||
    echo "not ok evaluate_report_page: $(grep -o '<h2>[^<]*' "$TMP/eval.html" | tr '\n' ' ')"
# Misses on the page = photos the JSON counts as wrong (off the confusion diagonal).
want=$(tr -d ' \n' <"$TMP/eval.json" | awk -F'"confusion":' '{
    n = split($2, row, "],"); wrong = 0
    for (i = 1; i <= n; i++) { gsub(/[][}]/, "", row[i]); k = split(row[i], v, ",")
        for (j = 1; j <= k; j++) if (j != i) wrong += v[j] }
    print wrong }')
got=$(page_misses "$TMP/eval.html")
thumbs=$(grep -o 'src="data:image/jpeg;base64,' "$TMP/eval.html" | wc -l)
[ -n "$want" ] && [ "$got" = "$want" ] && [ "$thumbs" -eq "$want" ] &&
    echo "ok evaluate_report_misclassified ($want photos)" ||
    echo "not ok evaluate_report_misclassified: page $got, json $want, $thumbs thumbnails"
