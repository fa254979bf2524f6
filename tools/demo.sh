#!/bin/sh
# demo.sh - `make demo`: petal's main job end to end. Trains a flower classifier on flowers5
# (TensorFlow's flower_photos: from ../shared/data, or downloaded on a machine with internet)
# with the default MobileNetV2, then classifies a few photos with the result.
#
#   tools/demo.sh [BUILD]
set -eu
BUILD=${1:-build}
PETAL=$BUILD/petal
OUT=$BUILD/demo
mkdir -p "$OUT"

DATA=${PETAL_DATA_DIR:-../shared/data}/flowers5
if [ ! -d "$DATA" ]; then
    DATA=$OUT/flower_photos
    if [ ! -d "$DATA" ]; then
        echo "demo: downloading TensorFlow's flower_photos.tgz (218 MB)"
        curl -fL --retry 3 -o "$OUT/flower_photos.tgz" \
            https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz
        tar -xzf "$OUT/flower_photos.tgz" -C "$OUT"
    fi
fi

echo "demo: training on $DATA (bottleneck cache in $BUILD/bottlenecks)"
"$PETAL" train --image_dir "$DATA" --output_graph "$OUT/flowers.tflite" \
    --output_labels "$OUT/flowers.txt" --bottleneck_dir "$BUILD/bottlenecks" \
    --summaries_dir "$OUT/retrain_logs" --how_many_training_steps 4000 --learning_rate 0.01 \
    --architecture mobilenet_v2 --eval_step_interval 500

echo
echo "demo: classifying a few photos with $OUT/flowers.tflite"
for c in daisy roses sunflowers; do
    photo=$(ls "$DATA/$c" | sort | tail -1)
    echo "--- $c/$photo"
    "$PETAL" classify --graph "$OUT/flowers.tflite" --labels "$OUT/flowers.txt" \
        --image "$DATA/$c/$photo" --top_k 3
done
echo
echo "demo: the trained model is $OUT/flowers.tflite (labels in $OUT/flowers.txt)"
