#!/bin/sh
# fetch-models.sh - downloads the pretrained models petal uses into a folder (default
# ./models) from their upstream location, skipping files already there, and checks each
# file's SHA-256. The table matches src/train/arch.c (backbones) plus the tiny test model
# and the ImageNet labels. Needs curl and internet access.
#
#   tools/fetch-models.sh [DIR]
set -eu
DIR=${1:-models}
BASE=https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41
mkdir -p "$DIR"

# file sha256 (empty = not checked)
MODELS="
mobilenet_v2_1.0_224_quant.tflite 7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776
tf2_mobilenet_v2_1.0_224_ptq.tflite 5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c
mobilenet_v1_1.0_224_quant_embedding_extractor.tflite f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319
mobilenet_v1_0.25_128_quant.tflite cb273c23ee76374b05b9583177e28aa19744858a7679c56a250e83d0333da785
"

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

failed=0
echo "$MODELS" | while read -r file sum; do
    [ -n "$file" ] || continue
    dest="$DIR/$file"
    if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$sum" ]; then
        echo "models: $file is present"
        continue
    fi
    echo "models: downloading $file"
    tmp="$dest.part"
    if ! curl -fsSL --retry 3 -o "$tmp" "$BASE/$file"; then
        rm -f "$tmp"
        echo "models: error: could not download $BASE/$file" >&2
        exit 1
    fi
    got=$(sha256_of "$tmp")
    if [ "$got" != "$sum" ]; then
        rm -f "$tmp"
        echo "models: error: $file has SHA-256 $got, expected $sum" >&2
        exit 1
    fi
    mv "$tmp" "$dest"
    echo "models: $file ok"
done || failed=1

if [ ! -f "$DIR/imagenet_labels.txt" ]; then
    echo "models: downloading imagenet_labels.txt"
    if curl -fsSL --retry 3 -o "$DIR/imagenet_labels.txt.part" "$BASE/imagenet_labels.txt"; then
        mv "$DIR/imagenet_labels.txt.part" "$DIR/imagenet_labels.txt"
    else
        rm -f "$DIR/imagenet_labels.txt.part"
        echo "models: error: could not download $BASE/imagenet_labels.txt" >&2
        failed=1
    fi
fi
exit $failed
