#!/bin/sh
# train.sh - `petal train` and `petal evaluate` end to end on a small copy of flowers5 with the
# tiny MobileNetV1 0.25/128: retrain.py's log lines, bad photos skipped and named, the cache
# reused and surviving SIGKILL, same seed -> same bits, the graph checked by flatc against the
# TFLite schema, `petal classify` agreeing with training's test step, the official TFLite
# interpreter (npm @tensorflow/tfjs-tflite under Node) agreeing with `petal classify`, and
# `petal evaluate --json`. Prints ok / not ok / skip lines.
set -u
PETAL=${PETAL:-build/petal}
BUILD=${BUILD:-build}
SHARED=${PETAL_SHARED:-../shared}
MODEL=$SHARED/models/mobilenet_v1_0.25_128_quant.tflite
TENSOR=MobilenetV1/Logits/AvgPool_1a/AvgPool
FLOWERS=$SHARED/data/flowers5

skip_or_fail() {
    if [ "${CI:-}" = "true" ]; then
        echo "not ok $1: $2 (CI=true: missing shared assets are failures)"
    else
        echo "skip $1: $2"
    fi
}

if [ ! -f "$MODEL" ] || [ ! -d "$FLOWERS" ]; then
    skip_or_fail train "missing $MODEL or $FLOWERS"
    exit 0
fi

TMP=$BUILD/test-tmp/train-sh-$$
rm -rf "$TMP"
mkdir -p "$TMP/data"
trap 'rm -rf "$TMP"' EXIT
# 24 photos per class (sorted names), plus three bad files in daisy.
for c in daisy dandelion roses sunflowers tulips; do
    mkdir -p "$TMP/data/$c"
    ls "$FLOWERS/$c" | sort | head -24 | while read -r f; do cp "$FLOWERS/$c/$f" "$TMP/data/$c/"; done
done
first=$(ls "$TMP/data/roses" | head -1)
head -c 3000 "$TMP/data/roses/$first" >"$TMP/data/daisy/corrupt.jpg"
: >"$TMP/data/daisy/empty.jpg"
echo "these are notes, not a photo" >"$TMP/data/daisy/notes.jpg"
N_GOOD=120
# A small labelled set for evaluate and sharding, folder names spelled differently.
for c in Daisy dandelion "Roses!" sunflowers tulips; do
    mkdir -p "$TMP/small/$c"
    src=$(echo "$c" | tr 'A-Z' 'a-z' | tr -d '!')
    ls "$FLOWERS/$src" | sort | tail -4 | while read -r f; do cp "$FLOWERS/$src/$f" "$TMP/small/$c/"; done
done

train() {
    "$PETAL" train --image_dir "$TMP/data" --model "$MODEL" --bottleneck_tensor "$TENSOR" \
        --bottleneck_dir "$TMP/cache" --how_many_training_steps 150 --eval_step_interval 50 \
        --learning_rate 0.05 --testing_percentage 20 --validation_percentage 10 "$@"
}

# ---- A first run: logs, bad files, outputs ----
mkdir -p "$TMP/sums"
echo keep >"$TMP/sums/marker"
train --output_graph "$TMP/out.tflite" --output_labels "$TMP/labels.txt" \
    --summaries_dir "$TMP/sums" --print_misclassified_test_images --seed 7 >"$TMP/log1" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    echo "not ok train_runs: exit $rc: $(tail -3 "$TMP/log1")"
    exit 0
fi
echo "ok train_runs"
missing=""
for pat in "Step 0: Train accuracy = [0-9.]*%" "Step 0: Cross entropy = [0-9.]*" \
    "Step 149: Validation accuracy = [0-9.]*% (N=100)" "Final test accuracy = [0-9.]*% (N=[0-9]*)" \
    "=== MISCLASSIFIED TEST IMAGES ==="; do
    grep -q "$pat" "$TMP/log1" || missing="$missing [$pat]"
done
grep -q "^petal: 20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9:.]*: Step 50: Train accuracy" "$TMP/log1" ||
    missing="$missing [timestamp]"
[ -z "$missing" ] && echo "ok train_log_lines" || echo "not ok train_log_lines: missing$missing"

bad=0
for f in corrupt.jpg empty.jpg notes.jpg; do
    grep -q "daisy/$f" "$TMP/log1" || bad=1
done
grep -q "3 photos could not be used" "$TMP/log1" || bad=1
[ $bad -eq 0 ] && echo "ok train_names_bad_files" ||
    echo "not ok train_names_bad_files: $(grep -i 'skip\|could not' "$TMP/log1" | head -5)"

if [ "$(cat "$TMP/labels.txt" | tr '\n' ,)" = "daisy,dandelion,roses,sunflowers,tulips," ]; then
    echo "ok train_labels_file"
else
    echo "not ok train_labels_file: $(cat "$TMP/labels.txt")"
fi

if [ -f "$TMP/sums/marker" ] && ls "$TMP"/sums/train/events.out.tfevents.* >/dev/null 2>&1 &&
    ls "$TMP"/sums/validation/events.out.tfevents.* >/dev/null 2>&1; then
    echo "ok train_summaries_kept_and_written"
else
    echo "not ok train_summaries_kept_and_written: $(ls -R "$TMP/sums")"
fi

n_entries=$(find "$TMP/cache" -name '*.bn' | wc -l)
n_unique=$(cd "$TMP/data" && for c in *; do for f in "$c"/*; do case "$f" in
    daisy/corrupt.jpg | daisy/empty.jpg | daisy/notes.jpg) ;;
    *) sha256sum "$f" | cut -c1-64 ;; esac; done; done | sort -u | wc -l)
[ "$n_entries" -eq "$n_unique" ] && echo "ok cache_one_entry_per_photo" ||
    echo "not ok cache_one_entry_per_photo: $n_entries entries for $n_unique photos"

# ---- The split is retrain.py's (checked with Python's hashlib when python3 is present) ----
if command -v python3 >/dev/null 2>&1; then
    python3 - "$TMP/data" >"$TMP/split.txt" <<'PY'
import hashlib, os, re, sys
d = sys.argv[1]
for c in sorted(os.listdir(d)):
    for f in sorted(os.listdir(os.path.join(d, c))):
        p = os.path.join(d, c, f)
        h = re.sub(r'_nohash_.*$', '', p)
        pct = (int(hashlib.sha1(h.encode()).hexdigest(), 16) % (2**27)) * (100.0 / (2**27 - 1))
        s = 'validation' if pct < 10 else 'testing' if pct < 30 else 'training'
        print(s, c, p)
PY
    want_test=$(grep -c '^testing' "$TMP/split.txt")
    bad_test=$(grep '^testing' "$TMP/split.txt" | grep -c 'daisy/corrupt.jpg\|daisy/empty.jpg\|daisy/notes.jpg')
    got=$(sed -n 's/.*Final test accuracy = [0-9.]*% (N=\([0-9]*\)).*/\1/p' "$TMP/log1")
    [ "$got" = "$((want_test - bad_test))" ] && echo "ok split_matches_retrain_py" ||
        echo "not ok split_matches_retrain_py: N=$got, python says $want_test - $bad_test"
fi

# ---- Same seed, same bits; the cache is reused ----
train --output_graph "$TMP/out2.tflite" --output_labels "$TMP/labels2.txt" --summaries_dir "" \
    --seed 7 >"$TMP/log2" 2>&1
if cmp -s "$TMP/out.tflite" "$TMP/out2.tflite"; then
    echo "ok train_same_seed_same_bits"
else
    echo "not ok train_same_seed_same_bits: graphs differ"
fi
grep -q "0 bottleneck files created, $N_GOOD from the cache" "$TMP/log2" &&
    echo "ok cache_reused" || echo "not ok cache_reused: $(grep 'bottleneck files' "$TMP/log2")"

# ---- A corrupt or torn cache entry is detected and recomputed ----
entry=$(find "$TMP/cache" -name '*.bn' | sort | head -1)
entry2=$(find "$TMP/cache" -name '*.bn' | sort | sed -n 2p)
printf 'garbage' | dd of="$entry" bs=1 seek=100 conv=notrunc 2>/dev/null
head -c 50 "$entry2" >"$TMP/torn" && mv "$TMP/torn" "$entry2"
train --output_graph "$TMP/out3.tflite" --output_labels "$TMP/labels3.txt" --summaries_dir "" \
    --seed 7 >"$TMP/log2b" 2>&1
if grep -q "checksum mismatch (torn entry); recomputing it" "$TMP/log2b" &&
    grep -q "2 bottleneck files created, $((N_GOOD - 2)) from the cache" "$TMP/log2b" &&
    cmp -s "$TMP/out.tflite" "$TMP/out3.tflite"; then
    echo "ok cache_damage_recomputed"
else
    echo "not ok cache_damage_recomputed: $(grep 'recomput\|bottleneck files' "$TMP/log2b" | head -3)"
fi

# ---- The graph follows the TFLite schema (flatc) ----
SCHEMA=$SHARED/tflite/schema.fbs
if command -v flatc >/dev/null 2>&1 && [ -f "$SCHEMA" ]; then
    mkdir -p "$TMP/flatc"
    if flatc --raw-binary -o "$TMP/flatc" --json --strict-json "$SCHEMA" -- "$TMP/out.tflite" \
        >"$TMP/flatc.log" 2>&1 && grep -q '"final_result"' "$TMP/flatc/out.json" &&
        grep -q '"FULLY_CONNECTED"\|"builtin_code": "FULLY_CONNECTED"\|FULLY_CONNECTED' \
            "$TMP/flatc/out.json"; then
        echo "ok graph_passes_flatc"
    else
        echo "not ok graph_passes_flatc: $(head -3 "$TMP/flatc.log")"
    fi
else
    skip_or_fail graph_passes_flatc "flatc or $SCHEMA missing"
fi

# ---- petal classify agrees with the training run's test step on every test photo ----
if [ -f "$TMP/split.txt" ]; then
    grep '^testing' "$TMP/split.txt" | grep -v 'corrupt.jpg\|empty.jpg\|notes.jpg' >"$TMP/test.txt"
    set --
    while read -r split cls path; do set -- "$@" --image "$path"; done <"$TMP/test.txt"
    "$PETAL" classify --graph "$TMP/out.tflite" --labels "$TMP/labels.txt" --top_k 1 --json \
        "$@" >"$TMP/classify.json" 2>"$TMP/classify.err"
    set --
    python3 - "$TMP/test.txt" "$TMP/classify.json" "$TMP/log1" >"$TMP/agree.txt" <<'PY'
import json, sys
tests = [l.split(None, 2) for l in open(sys.argv[1]).read().splitlines()]
got = {}
for line in open(sys.argv[2]):
    d = json.loads(line)
    if d.get("predictions"):
        got[d["file"]] = d["predictions"][0]["label"]
log = open(sys.argv[3]).read().splitlines()
for split, cls, path in tests:
    wrong = [l.split()[-1] for l in log if path in l and "Step" not in l and "skipp" not in l]
    want = wrong[0] if wrong else cls
    if got.get(path) != want:
        print("%s: classify says %r, training said %r" % (path, got.get(path), want))
if not tests:
    print("no test photos")
PY
    [ -s "$TMP/agree.txt" ] && echo "not ok classify_agrees_with_training: $(head -3 "$TMP/agree.txt") $(head -2 "$TMP/classify.err")" ||
        echo "ok classify_agrees_with_training ($(wc -l <"$TMP/test.txt") test photos)"
fi

# ---- The official TFLite interpreter agrees with petal classify ----
NODE_DIR=$BUILD/tfjs
if ! command -v node >/dev/null 2>&1; then
    echo "skip tflite_interpreter_agrees: node is not installed"
else
    if [ ! -f "$NODE_DIR/node_modules/@tensorflow/tfjs-tflite/wasm/tflite_web_api_cc_simd.wasm" ]; then
        mkdir -p "$NODE_DIR"
        [ -f "$NODE_DIR/package.json" ] || echo '{"name":"petal-tflite-check","private":true}' >"$NODE_DIR/package.json"
        (cd "$NODE_DIR" && npm install --ignore-scripts --no-audit --no-fund \
            @tensorflow/tfjs-tflite@0.0.1-alpha.10 >/dev/null 2>&1)
    fi
    if [ ! -f "$NODE_DIR/node_modules/@tensorflow/tfjs-tflite/wasm/tflite_web_api_cc_simd.wasm" ]; then
        skip_or_fail tflite_interpreter_agrees "npm could not install @tensorflow/tfjs-tflite"
    else
        # Flower photos the model is sure about: six 128x128 windows of the shared sunflower.bmp.
        crops=""
        for xy in "0 0" "192 106" "384 0" "0 212" "384 212" "256 60"; do
            name=$TMP/sunflower-$(echo "$xy" | tr ' ' '-').bmp
            # shellcheck disable=SC2086
            node tests/train/tflite_check.js --crop 128 "$SHARED/models/sunflower.bmp" "$name" $xy &&
                crops="$crops $name"
        done
        # shellcheck disable=SC2086
        node tests/train/tflite_check.js "$NODE_DIR/node_modules" "$TMP/out.tflite" $crops \
            >"$TMP/tflite.txt" 2>"$TMP/tflite.err"
        fails=""
        # Same top-1 from petal classify with the float executors. (The tiny model's scores
        # are close calls - 0.3 to 0.6 - and the oneDNN int8 path rounds them differently
        # from TFLite's integer kernels, so it is not held to the same top-1 here.)
        while read -r file idx score idx2 score2; do
            want=$(sed -n "$((idx + 1))p" "$TMP/labels.txt")
            for backend in reference onednn-f32; do
                got=$("$PETAL" classify --graph "$TMP/out.tflite" --labels "$TMP/labels.txt" \
                    --image "$file" --top_k 1 --backend $backend 2>/dev/null |
                    sed -n 's/^\(.*\) (score = .*/\1/p' | head -1)
                [ "$got" = "$want" ] ||
                    fails="$fails $file:tflite=$want($score; 2nd $score2),petal-$backend=$got"
            done
        done <"$TMP/tflite.txt"
        if [ "$(wc -l <"$TMP/tflite.txt")" -ge 6 ] && [ -z "$fails" ]; then
            echo "ok tflite_interpreter_agrees"
        else
            echo "not ok tflite_interpreter_agrees:$fails $(head -2 "$TMP/tflite.err")"
        fi
    fi
fi

# ---- petal evaluate, folder names matched by the label normalization ----
"$PETAL" evaluate --graph "$TMP/out.tflite" --labels "$TMP/labels.txt" --image_dir "$TMP/small" \
    --json >"$TMP/eval.json" 2>"$TMP/eval.err"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert 0<=d["accuracy"]<=1 and d["n"]==20 and len(d["confusion"])==5 and sum(map(sum,d["confusion"]))==20 and d["per_class"]["roses"]["support"]==4' "$TMP/eval.json" 2>/dev/null; then
    echo "ok evaluate_json"
else
    echo "not ok evaluate_json: $(head -c 300 "$TMP/eval.json") $(head -2 "$TMP/eval.err")"
fi
"$PETAL" evaluate --graph "$TMP/out.tflite" --labels "$TMP/labels.txt" --image_dir "$TMP/small" \
    >"$TMP/eval.txt" 2>&1
grep -q "accuracy = [0-9.]*% (N=20)" "$TMP/eval.txt" && grep -q "confusion matrix" "$TMP/eval.txt" &&
    echo "ok evaluate_text" || echo "not ok evaluate_text: $(head -3 "$TMP/eval.txt")"

# ---- .pb output name gets a note; a missing model names where it looked ----
train --output_graph "$TMP/graph.pb" --output_labels "$TMP/l.txt" --summaries_dir "" \
    --how_many_training_steps 2 >"$TMP/log3" 2>&1
grep -q "graph.pb is written as a TensorFlow Lite model" "$TMP/log3" && [ -s "$TMP/graph.pb" ] &&
    echo "ok pb_name_note" || echo "not ok pb_name_note: $(tail -2 "$TMP/log3")"
# (run from inside $TMP, where neither ./models nor ../shared/models exist)
ABS_PETAL=$PETAL
case $PETAL in /*) ;; *) ABS_PETAL=$(pwd)/$PETAL ;; esac
(cd "$TMP" && PETAL_MODEL_DIR=/nonexistent "$ABS_PETAL" train --image_dir data \
    --architecture mobilenet_v2_int8 --model_dir nomodels >log4 2>&1)
rc=$?
grep -q "error: model tf2_mobilenet_v2_1.0_224_ptq.tflite not found (looked in nomodels, /nonexistent, ./models, ../shared/models)" "$TMP/log4" &&
    grep -q "make models" "$TMP/log4" && [ $rc -ne 0 ] && echo "ok missing_model_message" ||
    echo "not ok missing_model_message: $(cat "$TMP/log4" | tail -2)"

# ---- --keep_best and intermediate graphs ----
train --output_graph "$TMP/kb.tflite" --output_labels "$TMP/kb.txt" --summaries_dir "" \
    --keep_best --intermediate_store_frequency 50 --intermediate_output_graphs_dir "$TMP/inter" \
    >"$TMP/log7" 2>&1
grep -q "Keeping the weights of step [0-9]* (validation accuracy [0-9.]*% on all" "$TMP/log7" &&
    [ -s "$TMP/inter/intermediate_50.tflite" ] && [ -s "$TMP/inter/intermediate_100.tflite" ] &&
    grep -q "Save intermediate result to : $TMP/inter/intermediate_50.tflite" "$TMP/log7" &&
    echo "ok keep_best_and_intermediate_graphs" ||
    echo "not ok keep_best_and_intermediate_graphs: $(grep -v Step "$TMP/log7" | tail -3)"

# ---- Distortions: cached copies, and retrain.py's per-step recomputation ----
before=$(find "$TMP/cache" -name '*.bn' | wc -l)
train --output_graph "$TMP/d.tflite" --output_labels "$TMP/d.txt" --summaries_dir "" \
    --flip_left_right --random_crop 10 --random_brightness 10 --distorted_copies 1 \
    >"$TMP/log8" 2>&1
rc=$?
added=$(($(find "$TMP/cache" -name '*.bn' | wc -l) - before))
n_train=$(sed -n 's/.*1 distorted copies of \([0-9]*\) training photos.*/\1/p' "$TMP/log8")
[ $rc -eq 0 ] && [ -n "$n_train" ] && [ "$added" -gt $((n_train / 2)) ] && [ "$added" -le "$n_train" ] &&
    echo "ok distorted_copies_cached" ||
    echo "not ok distorted_copies_cached: rc=$rc added=$added n_train=$n_train $(tail -2 "$TMP/log8")"
train --output_graph "$TMP/d2.tflite" --output_labels "$TMP/d2.txt" --summaries_dir "" \
    --flip_left_right --how_many_training_steps 3 --train_batch_size 8 >"$TMP/log9" 2>&1 &&
    grep -q "distortions recompute 8 bottlenecks per step" "$TMP/log9" &&
    grep -q "Final test accuracy" "$TMP/log9" && echo "ok distortions_per_step" ||
    echo "not ok distortions_per_step: $(tail -2 "$TMP/log9")"

# ---- SIGKILL while caching (the slow reference backend, so the kill lands mid-run), then
# restart: every photo cached exactly once ----
rm -rf "$TMP/cache2"
train --bottleneck_dir "$TMP/cache2" --cache_only --threads 1 --backend reference >"$TMP/log5" 2>&1 &
pid=$!
i=0
while [ $i -lt 200 ]; do
    n=$(find "$TMP/cache2" -name '*.bn' 2>/dev/null | wc -l)
    [ "$n" -ge 10 ] && break
    sleep 0.05
    i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
before=$(find "$TMP/cache2" -name '*.bn' | wc -l)
train --bottleneck_dir "$TMP/cache2" --cache_only >"$TMP/log6" 2>&1
rc=$?
after=$(find "$TMP/cache2" -name '*.bn' | wc -l)
if [ $rc -eq 0 ] && [ "$after" -eq "$n_unique" ] && [ "$before" -lt "$n_unique" ] &&
    grep -q "from the cache" "$TMP/log6"; then
    echo "ok cache_survives_sigkill ($before entries before the restart, $after after)"
else
    echo "not ok cache_survives_sigkill: rc=$rc before=$before after=$after want=$n_unique"
fi

# ---- Sharded caching: two shards together fill the whole cache ----
n_small=$(cd "$TMP/small" && for f in */*; do sha256sum "$f" | cut -c1-64; done | sort -u | wc -l)
"$PETAL" train --image_dir "$TMP/small" --model "$MODEL" --bottleneck_tensor "$TENSOR" \
    --bottleneck_dir "$TMP/cache3" --cache_only --shard 0/2 >/dev/null 2>&1
one=$(find "$TMP/cache3" -name '*.bn' | wc -l)
"$PETAL" train --image_dir "$TMP/small" --model "$MODEL" --bottleneck_tensor "$TENSOR" \
    --bottleneck_dir "$TMP/cache3" --cache_only --shard 1/2 >/dev/null 2>&1
all=$(find "$TMP/cache3" -name '*.bn' | wc -l)
[ "$one" -gt 0 ] && [ "$one" -lt "$n_small" ] && [ "$all" -eq "$n_small" ] && echo "ok cache_shards" ||
    echo "not ok cache_shards: $one entries after shard 0/2, $all after 1/2, want $n_small"
exit 0
