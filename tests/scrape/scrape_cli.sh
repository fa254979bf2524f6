#!/bin/sh
# scrape_cli.sh - `petal scrape` end to end against the fixture server of test_scrape_run
# (started here with --serve on 127.0.0.1): the summary and exit status, --dry_run, the shipped
# labels file, and a run killed with SIGKILL then rerun, which must leave a consistent folder.
set -u
PETAL=${PETAL:-build/petal}
NAME=scrape-cli
. tests/scrape/fixture_server.shlib
API="http://127.0.0.1:$PORT/w/api.php"
FAST="--timeout 2 --retries 1 --delay_ms 0"
kills=""

# Every manifest line has its file, every file in folder $2 its line, and no temp file is left.
consistent() {
    dir=$1
    folder=$2
    tail -n +2 "$dir/manifest.csv" | cut -d, -f2 | sort >"$TMP/lines"
    for f in $(tail -n +2 "$dir/manifest.csv" | cut -d, -f2); do
        [ -f "$dir/$f" ] || { echo "line without file: $f"; return 1; }
    done
    for f in "$dir/$folder"/* "$dir/$folder"/.[!.]*; do
        [ -e "$f" ] || continue
        rel="$folder/$(basename "$f")"
        grep -qx "$rel" "$TMP/lines" || { echo "file without line: $rel"; return 1; }
    done
    return 0
}

# 0. --help documents every flag of the issue, with its default.
$PETAL scrape --help >"$TMP/help" 2>&1
missing=""
for want in "--label NAME" "--labels LIST" "--labels_file F" "--per_class N .*(100)" \
    "--image_dir DIR" "--source LIST .*comma list filled in order (wikimedia)" "--base_url URL" \
    "--concurrency N .*(8)" "--per_host N .*(2)" "--delay_ms N" "--timeout S .*(15)" \
    "--retries N .*(2)" "--max_redirects N" "--user_agent TEXT .*contact" \
    "--max_bytes N .*(20971520)" "--min_size N .*(64)" "--dhash_distance N" "--dry_run"; do
    grep -q -- "^  $want" "$TMP/help" || missing="$missing [$want]"
done
if [ -z "$missing" ]; then
    echo "ok scrape_cli_help"
else
    echo "not ok scrape_cli_help: not documented:$missing"
fi

# 1. Fault endpoints through the CLI: the summary names every failure; the label got images.
out="$TMP/faulty.out"
if $PETAL scrape --label faulty --image_dir "$TMP/f" --base_url "$API" --per_class 30 $FAST \
    --max_bytes 2097152 >"$out" 2>"$TMP/faulty.err" &&
    grep -q "HTTP 404" "$out" && grep -q "more than 5 redirects" "$out" &&
    grep -q "HTML, not an image" "$out" && grep -q "over the pixel limit" "$out" &&
    consistent "$TMP/f" faulty; then
    echo "ok scrape_cli_faults"
else
    echo "not ok scrape_cli_faults: $(cat "$out" "$TMP/faulty.err" | head -20 | tr '\n' '|')"
fi

# 2. A label that gets nothing makes the exit status non-zero.
if $PETAL scrape --label broken --image_dir "$TMP/b" --base_url "$API" $FAST >/dev/null \
    2>"$TMP/broken.err"; then
    echo "not ok scrape_cli_empty_label: exit status 0 although 'broken' got nothing"
elif grep -q "label 'broken' got no images" "$TMP/broken.err"; then
    echo "ok scrape_cli_empty_label"
else
    echo "not ok scrape_cli_empty_label: $(head -5 "$TMP/broken.err" | tr '\n' '|')"
fi

# 3. --dry_run lists candidates and writes nothing; --label repeats and adds to --labels.
$PETAL scrape --label rose --label Lily --labels "iris,lily" --image_dir "$TMP/d" \
    --base_url "$API" --per_class 5 --dry_run >"$TMP/d.out" 2>/dev/null
n=$(grep -c "^rose	wikimedia	http://127.0.0.1:$PORT/img/" "$TMP/d.out")
n_lily=$(grep -c "^lily	wikimedia	" "$TMP/d.out")
n_iris=$(grep -c "^iris	wikimedia	" "$TMP/d.out")
if [ "$n" = 5 ] && [ "$n_lily" = 3 ] && [ "$n_iris" = 3 ] && [ ! -e "$TMP/d" ]; then
    echo "ok scrape_cli_dry_run"
else
    echo "not ok scrape_cli_dry_run: listed $n of 5 rose, $n_lily lily, $n_iris iris, or wrote $TMP/d"
fi

# 4. The shipped labels file: 41 names, near-duplicates merged, so 40 labels and folders.
SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
$PETAL scrape --labels_file "$SRC_DIR/examples/flowers41.txt" --image_dir "$TMP/l" \
    --base_url "$API" --per_class 1 --dry_run $FAST >"$TMP/l.out" 2>"$TMP/l.err"
rows=$(grep -cE '^[a-z0-9 ]+ +1 +0 ' "$TMP/l.err")
if [ "$rows" = 40 ] && grep -q '^bourvardia ' "$TMP/l.err" &&
    grep -q '^queen annes lace ' "$TMP/l.err" && ! grep -q '^snapdragons ' "$TMP/l.err"; then
    echo "ok scrape_cli_labels_file"
else
    echo "not ok scrape_cli_labels_file: $rows label rows"
fi

# 5. SIGKILL at several moments (before the first photo, early, late), rerun after each: a
# consistent folder with every image. Each kill lands on a folder the previous rerun left.
scrape_slow() {
    $PETAL scrape --label slow --image_dir "$TMP/k" --base_url "$API" --per_class "$1" \
        --concurrency 4 --per_host 4 $FAST
}
ok=1
for step in "10 -1" "18 2" "24 1"; do
    per=${step% *}
    at=${step#* }
    base=$( (wc -l <"$TMP/k/manifest.csv") 2>/dev/null || echo 0)
    $PETAL scrape --label slow --image_dir "$TMP/k" --base_url "$API" --per_class $per \
        --concurrency 4 --per_host 4 $FAST >/dev/null 2>&1 &
    PID=$!
    i=0
    while [ $i -lt 100 ]; do
        lines=$( (wc -l <"$TMP/k/manifest.csv") 2>/dev/null || echo 0)
        [ "$at" -ge 0 ] && [ "$lines" -gt $((base + at)) ] && break
        [ "$at" -lt 0 ] && [ $i -ge 2 ] && break
        sleep 0.02
        i=$((i + 1))
    done
    kill -9 $PID 2>/dev/null
    wait $PID 2>/dev/null
    before=$( (tail -n +2 "$TMP/k/manifest.csv" | wc -l) 2>/dev/null || echo 0)
    if scrape_slow $per >"$TMP/k.out" 2>&1 && consistent "$TMP/k" slow &&
        [ "$(ls "$TMP/k/slow" | wc -l)" = $per ]; then
        kills="$kills $before/$per"
    else
        ok=0
        echo "not ok scrape_cli_sigkill_rerun: killed at $before of $per: $(head -10 "$TMP/k.out" |
            tr '\n' '|')"
    fi
done
[ $ok = 1 ] && echo "ok scrape_cli_sigkill_rerun (killed with stored/wanted:$kills)"

# 6. A bar redrawn in place on a terminal (script(1) gives one), plain lines otherwise.
esc=$(printf '\033')
if command -v script >/dev/null 2>&1; then
    script -qc "$PETAL scrape --label slow --image_dir $TMP/t --base_url $API --per_class 6 \
        --concurrency 4 --per_host 4 $FAST" /dev/null >"$TMP/tty.out" 2>&1
    if grep -q "${esc}\[Kscrape \[#*\.*\] [0-9]*/6 images.*labels done" "$TMP/tty.out" &&
        ! grep -q "$esc" "$TMP/faulty.err" && grep -q "^petal: scrape: [0-9]*/30 images" "$TMP/faulty.err"; then
        echo "ok scrape_cli_progress"
    else
        echo "not ok scrape_cli_progress: $(tr '\r\033' '|~' <"$TMP/tty.out" | head -c 300)"
    fi
else
    echo "not ok scrape_cli_progress: script(1) is missing (bsdutils)"
fi

# 7. The manifest's columns, exactly.
if [ "$(head -1 "$TMP/k/manifest.csv")" = \
    "label,file,sha256,width,height,source,image_url,page_url,licence,author,fetched_at" ]; then
    echo "ok scrape_cli_manifest_header"
else
    echo "not ok scrape_cli_manifest_header: $(head -1 "$TMP/k/manifest.csv")"
fi

# 8. Trainable layout: image_dir holds manifest.csv (and the hidden lock) and one folder per
# label with images only.
bad=$(find "$TMP/k" -mindepth 1 ! -name manifest.csv ! -name .scrape.lock ! -path "$TMP/k/slow" \
    ! -path "$TMP/k/slow/*.jpg" ! -path "$TMP/k/slow/*.png" | head -3)
if [ -z "$bad" ]; then
    echo "ok scrape_cli_layout"
else
    echo "not ok scrape_cli_layout: unexpected $bad"
fi
