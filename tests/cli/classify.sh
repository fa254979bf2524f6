#!/bin/sh
# classify.sh - end-to-end tests of `petal classify`: label_image.py's output form, --json, a
# folder of photos, and corrupt inputs (models, photos, labels) that must each end with exit
# status non-zero, one error line and no sanitizer report. Uses $PETAL; prints ok/not ok/skip.
set -u
PETAL=${PETAL:-build/petal}
BUILD=${BUILD:-build}

models=""
for d in "${PETAL_MODEL_DIR:-}" models ../shared/models; do
    if [ -n "$d" ] && [ -f "$d/mobilenet_v1_0.25_128_quant.tflite" ]; then
        models=$d
        break
    fi
done
if [ -z "$models" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "not ok classify: shared models not found (CI=true)"
        exit 1
    fi
    echo "skip classify: shared models not found (set PETAL_MODEL_DIR)"
    exit 0
fi
V2="$models/mobilenet_v2_1.0_224_quant.tflite"
TINY="$models/mobilenet_v1_0.25_128_quant.tflite"
LABELS="$models/imagenet_labels.txt"

tmp="$BUILD/test-tmp/classify-sh-$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM

ok() { echo "ok $1"; }
notok() { echo "not ok $1: $2"; }

# Runs petal with the given arguments, keeping stdout, stderr and the exit status.
run() {
    "$PETAL" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}

# Checks the last run failed (status $2, or any non-zero status when $2 is "fail") with
# exactly one "petal: error:" line on stderr and no sanitizer report.
expect_error() {
    name=$1
    want=$2
    lines=$(wc -l <"$tmp/err")
    if grep -q -E 'Sanitizer|runtime error|LeakSanitizer' "$tmp/err"; then
        notok "$name" "sanitizer report: $(head -3 "$tmp/err" | tr '\n' ' ')"
    elif [ "$rc" -eq 0 ]; then
        notok "$name" "exit status 0"
    elif [ "$want" != fail ] && [ "$rc" -ne "$want" ]; then
        notok "$name" "exit status $rc, want $want"
    elif [ "$rc" -gt 2 ]; then
        notok "$name" "exit status $rc (crash?)"
    elif [ "$lines" -ne 1 ] || ! grep -q '^petal: error: ' "$tmp/err"; then
        notok "$name" "want one error line, got $lines: $(head -3 "$tmp/err" | tr '\n' '|')"
    else
        ok "$name"
    fi
}

# ---- The issue's example ------------------------------------------------------------------
run classify --graph "$V2" --labels "$LABELS" --image "$models/grace_hopper.bmp"
first=$(head -1 "$tmp/out")
if [ "$rc" -ne 0 ]; then
    notok classify_example "exit status $rc: $(head -1 "$tmp/err")"
elif ! echo "$first" | grep -q '^military uniform (score = 0\.9[0-9]\{4\})$'; then
    notok classify_example "first line is '$first'"
elif [ "$(wc -l <"$tmp/out")" -ne 5 ]; then
    notok classify_example "want 5 lines, got $(wc -l <"$tmp/out")"
else
    ok classify_example
fi

# ---- Acceptance: the default backend on the six shared photos and both MobileNetV2 files ----
# Expected top-1 label and the official interpreter's score from ../shared/models/README.md;
# the default (auto) path must give that label with a score within 0.08.
accept() {
    model=$1
    shift
    if [ ! -f "$models/$model" ]; then
        notok "classify_default_$model" "model not found"
        return
    fi
    run classify --graph "$models/$model" --labels "$LABELS" --top_k 1 \
        --image "$models/grace_hopper.bmp" --image "$models/cat.bmp" --image "$models/parrot.jpg" \
        --image "$models/bird.bmp" --image "$models/sunflower.bmp" --image "$models/owl.jpg"
    # Lines "photo:" then "label (score = x)": one "photo|label|score" row per photo.
    rows=$(sed -n -e '/:$/{s/:$//;s/.*\///;h;d}' -e 's/^\(.*\) (score = \([0-9.]*\))$/\1|\2/' \
        -e 'G;s/\(.*\)\n\(.*\)/\2|\1/p' "$tmp/out")
    bad=""
    for want in "$@"; do
        photo=${want%%|*}
        rest=${want#*|}
        label=${rest%|*}
        score=${rest##*|}
        got=$(echo "$rows" | grep "^$photo|")
        glabel=$(echo "$got" | cut -d'|' -f2)
        gscore=$(echo "$got" | cut -d'|' -f3)
        if [ "$glabel" != "$label" ] ||
            ! awk -v a="$gscore" -v b="$score" 'BEGIN { d = a - b; exit !(d <= 0.08 && d >= -0.08) }'; then
            bad="$bad $photo: got '$glabel' $gscore, want '$label' $score;"
        fi
    done
    if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
        ok "classify_default_$model"
    else
        notok "classify_default_$model" "rc $rc$bad"
    fi
}
accept mobilenet_v2_1.0_224_quant.tflite "grace_hopper.bmp|military uniform|0.925" \
    "cat.bmp|Egyptian cat|0.792" "parrot.jpg|macaw|1.000" "bird.bmp|chickadee|0.992" \
    "sunflower.bmp|daisy|0.992" "owl.jpg|ruffed grouse, partridge, Bonasa umbellus|0.667"
accept tf2_mobilenet_v2_1.0_224_ptq.tflite "grace_hopper.bmp|military uniform|0.784" \
    "cat.bmp|Egyptian cat|0.616" "parrot.jpg|macaw|0.925" "bird.bmp|chickadee|0.800" \
    "sunflower.bmp|daisy|0.949" "owl.jpg|ruffed grouse, partridge, Bonasa umbellus|0.267"

# --model is an alias of --graph; --top_k limits the lines; --threads and --backend parse.
run classify --model "$TINY" --labels "$LABELS" --image "$models/parrot.jpg" --top_k 2 \
    --threads 1 --backend reference
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 2 ] && head -1 "$tmp/out" | grep -q '^macaw '; then
    ok classify_model_alias_top_k
else
    notok classify_model_alias_top_k "rc $rc, output: $(tr '\n' '|' <"$tmp/out")"
fi

# ---- JSON ---------------------------------------------------------------------------------
run classify --graph "$TINY" --labels "$LABELS" --image "$models/parrot.jpg" --json --top_k 3
line=$(cat "$tmp/out")
pattern='^\{"file":"[^"]*parrot\.jpg","predictions":\[(\{"label":"[^"]*","score":[0-9.e-]+\},?){3}\],"decode_ms":[0-9.e-]+,"ms":[0-9.e-]+\}$'
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 1 ] && echo "$line" | grep -q -E "$pattern"; then
    ok classify_json
else
    notok classify_json "rc $rc, output: $line"
fi
if command -v python3 >/dev/null 2>&1; then
    if python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); p=o["predictions"];
assert len(p)==3 and p[0]["label"]=="macaw" and p[0]["score"]>=p[1]["score"]>=p[2]["score"]
assert o["ms"]>0 and o["decode_ms"]>0' <"$tmp/out" 2>"$tmp/pyerr"; then
        ok classify_json_parses
    else
        notok classify_json_parses "$(tail -1 "$tmp/pyerr")"
    fi
fi

# ---- A folder of photos, sorted, non-photos skipped ----------------------------------------
mkdir -p "$tmp/photos"
cp "$models/parrot.jpg" "$tmp/photos/b_parrot.jpg"
cp "$models/cat.bmp" "$tmp/photos/a_cat.bmp"
echo "not a photo" >"$tmp/photos/notes.txt"
run classify --graph "$TINY" --labels "$LABELS" --image "$tmp/photos" --top_k 1
# (The tiny model ties two cat breeds on cat.bmp, so only the parrot's label is checked.)
expected="$tmp/photos/a_cat.bmp:
cat (score = 
$tmp/photos/b_parrot.jpg:
macaw (score = "
got=$(sed -e 's/\(score = \).*/\1/' -e 's/^[A-Za-z]* cat (/cat (/' "$tmp/out")
if [ "$rc" -eq 0 ] && [ "$got" = "$expected" ]; then
    ok classify_folder
else
    notok classify_folder "rc $rc, output: $(tr '\n' '|' <"$tmp/out")"
fi
run classify --graph "$TINY" --labels "$LABELS" --image "$tmp/photos" --json
if [ "$rc" -eq 0 ] && [ "$(grep -c '^{"file":' "$tmp/out")" -eq 2 ]; then
    ok classify_folder_json
else
    notok classify_folder_json "rc $rc, output: $(tr '\n' '|' <"$tmp/out")"
fi

# --output_layer reads an inner tensor; without --labels the indices are printed.
run classify --graph "$TINY" --image "$models/cat.bmp" --top_k 3 \
    --output_layer MobilenetV1/Logits/AvgPool_1a/AvgPool
if [ "$rc" -eq 0 ] && [ "$(grep -c -E '^[0-9]+ \(score = [0-9]+\.[0-9]{5}\)$' "$tmp/out")" -eq 3 ]; then
    ok classify_output_layer
else
    notok classify_output_layer "rc $rc, output: $(tr '\n' '|' <"$tmp/out") $(cat "$tmp/err")"
fi
run classify --graph "$TINY" --image "$models/cat.bmp" --output_layer no/such/tensor
expect_error classify_output_layer_unknown 1

# --max_pixels rejects a photo over the limit before decoding it.
run classify --graph "$TINY" --labels "$LABELS" --image "$models/cat.bmp" --max_pixels 1000
expect_error classify_max_pixels 1

# In JSON mode a failed photo still gets its line, with the error.
: >"$tmp/empty.bmp"
run classify --graph "$TINY" --labels "$LABELS" --image "$tmp/empty.bmp" --json
if [ "$rc" -eq 1 ] && grep -q '^{"file":"[^"]*empty.bmp","error":"' "$tmp/out"; then
    ok classify_json_error
else
    notok classify_json_error "rc $rc, output: $(cat "$tmp/out")"
fi

# A folder without photos is an error, not silence.
mkdir -p "$tmp/nophotos"
echo "text" >"$tmp/nophotos/readme.txt"
run classify --graph "$TINY" --labels "$LABELS" --image "$tmp/nophotos"
if [ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q '^petal: error: no photos' "$tmp/err"; then
    ok classify_empty_folder
else
    notok classify_empty_folder "rc $rc, stderr: $(tr '\n' '|' <"$tmp/err")"
fi

# ---- Float models: (pixel - input_mean) / input_std, and --crop center ---------------------
# The float classifier seed (1x6x6x3 float input) read at its input tensor shows exactly what
# the model is fed. A solid 2x2 BMP (R 200, G 100, B 50) named .jpg: loaded by content.
FLOAT=tests/fuzz/corpus/tflite/float_classifier.tflite
bmp_header() { # width height data-bytes file-bytes (octal escapes)
    printf "BM$4\000\000\000\000\000\000\066\000\000\000\050\000\000\000$1\000\000\000$2\000\000\000"
    printf "\001\000\030\000\000\000\000\000$3\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
}
{
    bmp_header '\002' '\002' '\020' '\106\000'
    printf '\062\144\310\062\144\310\000\000\062\144\310\062\144\310\000\000'
} >"$tmp/solid.jpg"
# Distinct input values and how often each occurs (108 = 6 x 6 x 3).
values() { sed -n 's/^[0-9]* (score = \(.*\))$/\1/p' "$tmp/out" | sort | uniq -c | awk '{print $2 "x" $1}' | sort | tr '\n' ' '; }
run classify --graph "$FLOAT" --image "$tmp/solid.jpg" --output_layer input --top_k 108 \
    --input_mean 50 --input_std 100
got=$(values)
if [ "$rc" -eq 0 ] && [ "$got" = "0.00000x36 0.50000x36 1.50000x36 " ]; then
    ok classify_float_mean_std
else
    notok classify_float_mean_std "rc $rc, values: $got $(cat "$tmp/err")"
fi
run classify --graph "$FLOAT" --image "$tmp/solid.jpg" --output_layer input --top_k 108
got=$(values)
if [ "$rc" -eq 0 ] && [ "$got" = "-0.21569x36 -0.60784x36 0.56863x36 " ]; then
    ok classify_float_default_mean_std
else
    notok classify_float_default_mean_std "rc $rc, values: $got $(cat "$tmp/err")"
fi
run classify --graph "$FLOAT" --image "$tmp/solid.jpg"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 3 ]; then
    ok classify_float_model
else
    notok classify_float_model "rc $rc: $(cat "$tmp/err")"
fi
# A 6x2 BMP of red, green and blue bands two pixels wide: the centre crop of the square input
# keeps the green band only; the whole photo has all three.
{
    bmp_header '\006' '\002' '\050' '\136\000'
    band='\000\000\377\000\000\377\000\377\000\000\377\000\377\000\000\377\000\000\000\000'
    printf "$band$band"
} >"$tmp/bands.bmp"
# Channels (index mod 3) of the input values that are 1.0 with mean 0 and std 255.
channels() { awk '$NF == "1.00000)" { print $1 % 3 }' "$tmp/out" | sort -u | tr '\n' ' '; }
run classify --graph "$FLOAT" --image "$tmp/bands.bmp" --output_layer input --top_k 108 \
    --input_mean 0 --input_std 255 --crop center
crop=$(channels)
run classify --graph "$FLOAT" --image "$tmp/bands.bmp" --output_layer input --top_k 108 \
    --input_mean 0 --input_std 255
whole=$(channels)
if [ "$crop" = "1 " ] && [ "$whole" = "0 1 2 " ]; then
    ok classify_crop_center
else
    notok classify_crop_center "channels at 1.0: crop '$crop', whole '$whole'"
fi
run classify --graph "$FLOAT" --image "$tmp/bands.bmp" --crop middle
expect_error classify_usage_bad_crop 2

# An operator no backend runs: one error line naming it (a custom op by its custom code).
run classify --graph tests/fuzz/corpus/tflite/custom_ops.tflite --image "$tmp/solid.jpg"
expect_error classify_unsupported_op 1
if grep -q 'operator 1 (CUSTOM Scale) is not supported' "$tmp/err"; then
    ok classify_unsupported_op_named
else
    notok classify_unsupported_op_named "$(cat "$tmp/err")"
fi

# ---- Corrupt inputs -------------------------------------------------------------------------
: >"$tmp/empty.jpg"
printf 'hello, this is text\nnot a model\n' >"$tmp/text.tflite"
cp "$tmp/text.tflite" "$tmp/text.jpg"
size=$(wc -c <"$TINY")
head -c $((size / 2)) "$TINY" >"$tmp/truncated.tflite"
head -c 1000 "$TINY" >"$tmp/short.tflite"
# A PNG whose header claims 100000 x 100000 pixels (IHDR with its correct CRC).
printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\001\206\240\000\001\206\240\010\002\000\000\000\047\060\234\237' \
    >"$tmp/bomb.png"
jsize=$(wc -c <"$models/parrot.jpg")
head -c $((jsize / 3)) "$models/parrot.jpg" >"$tmp/truncated.jpg"

# Copies the tiny model with one byte at offset $2 replaced by $3 (octal) into $1.
flip() {
    cp "$TINY" "$1"
    printf "\\$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
flip "$tmp/bad_ident.tflite" 4 123  # "TFL3" identifier -> "SFL3"
flip "$tmp/bad_root.tflite" 3 177   # root table offset far outside the file

for m in truncated short bad_ident bad_root text; do
    run classify --graph "$tmp/$m.tflite" --labels "$LABELS" --image "$models/cat.bmp"
    expect_error "classify_corrupt_model_$m" 1
done
run classify --graph "$tmp/empty.jpg" --labels "$LABELS" --image "$models/cat.bmp"
expect_error classify_zero_byte_model 1
run classify --graph "$tmp/no-such-model.tflite" --labels "$LABELS" --image "$models/cat.bmp"
expect_error classify_missing_model 1

for p in empty.jpg text.jpg truncated.jpg bomb.png; do
    run classify --graph "$TINY" --labels "$LABELS" --image "$tmp/$p"
    if [ ! -s "$tmp/out" ] && grep -q "$p" "$tmp/err"; then
        expect_error "classify_corrupt_photo_$p" 1
    else
        notok "classify_corrupt_photo_$p" "stdout not empty or error does not name the file"
    fi
done
if grep -q -i 'pixels' "$tmp/err"; then
    ok classify_bomb_names_limit
else
    notok classify_bomb_names_limit "$(cat "$tmp/err")"
fi

# A bad photo in a list: the others are still classified, the status is non-zero.
run classify --graph "$TINY" --labels "$LABELS" --image "$models/cat.bmp" --image "$tmp/empty.jpg" \
    --image "$models/parrot.jpg" --top_k 1
if [ "$rc" -eq 1 ] && [ "$(grep -c 'score = ' "$tmp/out")" -eq 2 ] && grep -q 'empty.jpg' "$tmp/err" &&
    [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
    ok classify_bad_photo_in_list
else
    notok classify_bad_photo_in_list "rc $rc, out: $(tr '\n' '|' <"$tmp/out") err: $(cat "$tmp/err")"
fi

# Random single-byte changes anywhere in the model: an error line or a result, never a crash.
i=0
bad=""
for off in 17 64 200 523 1024 4099 9000 20011 60000 120000 200003 300007; do
    [ "$off" -lt "$size" ] || continue
    flip "$tmp/flip.tflite" "$off" 377
    run classify --graph "$tmp/flip.tflite" --labels "$LABELS" --image "$models/cat.bmp" --top_k 1
    if grep -q -E 'Sanitizer|runtime error' "$tmp/err" || [ "$rc" -gt 1 ] ||
        { [ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -ne 1 ]; }; then
        bad="$bad $off(rc $rc)"
    fi
    i=$((i + 1))
done
if [ -z "$bad" ]; then
    ok "classify_flipped_models ($i offsets)"
else
    notok classify_flipped_models "offsets$bad"
fi

# Labels that do not match the model's outputs, and labels that are not text.
printf 'a\nb\nc\n' >"$tmp/three.txt"
run classify --graph "$TINY" --labels "$tmp/three.txt" --image "$models/cat.bmp"
expect_error classify_label_count 1
if grep -q '3 labels' "$tmp/err" && grep -q '1001' "$tmp/err"; then
    ok classify_label_count_says_why
else
    notok classify_label_count_says_why "$(cat "$tmp/err")"
fi
run classify --graph "$TINY" --labels "$TINY" --image "$models/cat.bmp"
expect_error classify_binary_labels 1

# ---- Usage errors exit 2 ----------------------------------------------------------------------
run classify
expect_error classify_usage_no_flags 2
run classify --graph "$TINY" --image "$models/cat.bmp" --frobnicate
expect_error classify_usage_unknown_flag 2
run classify --graph "$TINY" --image "$models/cat.bmp" --top_k many
expect_error classify_usage_bad_number 2
run classify --graph "$TINY" --image "$models/cat.bmp" --backend warp
expect_error classify_usage_bad_backend 2
run classify --graph "$TINY" --image
expect_error classify_usage_missing_value 2
run classify --help
if [ "$rc" -eq 0 ] && grep -q -- '--output_layer' "$tmp/out"; then
    ok classify_help
else
    notok classify_help "rc $rc"
fi
exit 0
