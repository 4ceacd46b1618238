#!/bin/sh
# Trains the project's default model, model/default.safetensors, from the
# shared data (../shared) with the recipe in model/MODEL_CARD.md. Installs
# nothing and builds nothing: it runs the cosal-train of an existing build.
#
#   tools/train-default.sh [BUILD_DIR] [-- extra cosal-train options]
#
# e.g. tools/train-default.sh build               (fails if the model exists)
#      tools/train-default.sh build -- --force    (retrain, overwrite)
#      tools/train-default.sh build -- --resume   (continue after an interruption)
# Environment: COSAL_SHARED_DIR (default ../shared), COSAL_STAMPS (default the
# Debian package tuxpaint-stamps-default's /usr/share/tuxpaint/stamps),
# COSAL_TRAIN_OUT (default model/default.safetensors).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
shared=${COSAL_SHARED_DIR:-$src/../shared}
stamps=${COSAL_STAMPS:-/usr/share/tuxpaint/stamps}
out=${COSAL_TRAIN_OUT:-$src/model/default.safetensors}
# Paths relative to the current folder: the model's provenance records the
# command, and a model file should not carry the path of the machine's checkout.
rel() { realpath -m --relative-to=. "$1"; }
build=$(rel "$build") shared=$(rel "$shared") out=$(rel "$out")

train=$build/tools/cosal-train
if [ ! -x "$train" ]; then
  echo "train-default.sh: $train not found; build it first: meson compile -C $build tools/cosal-train" >&2
  exit 1
fi
for need in "$shared/data/davis2016-train/JPEGImages/480p" "$shared/data/davis2016/JPEGImages/480p" \
  "$shared/weights/mobilenet_v2_1.0_224_quant.tflite"; do
  if [ ! -e "$need" ]; then
    echo "train-default.sh: $need not found (set COSAL_SHARED_DIR)" >&2
    exit 1
  fi
done
if [ ! -d "$stamps" ]; then
  echo "train-default.sh: photo stamps $stamps not found (Debian: apt install tuxpaint-stamps-default, or set COSAL_STAMPS)" >&2
  exit 1
fi

# The recipe (see model/MODEL_CARD.md). Trained on the 30 DAVIS-2016
# training sequences; validated on the 12 DAVIS-2016 validation sequences of
# ../shared, never trained on, through the element's stream processor with
# its default settings (streaming, window 8, refresh 8); the final model is
# the best validation S-measure.
exec "$train" \
  --davis "$shared/data/davis2016-train" \
  --val-data "$shared/data/davis2016" \
  --val-groups bmx-trees,car-shadow,cows,dance-twirl,drift-chicane,drift-straight,goat,horsejump-high,motocross-jump,paragliding-launch,parkour,scooter-black \
  --val-window 8 --val-refresh 8 \
  --stamps "$stamps" --synthetic-groups 300 --synthetic-members 6 --synthetic-fraction 0.1 \
  --backbone mobilenet_v2 --backbone-weights "$shared/weights/mobilenet_v2_1.0_224_quant.tflite" \
  --finetune-last-blocks 7 --backbone-lr-scale 0.1 --mirror \
  --feature-cache "$build/train-default.features.bin" \
  --variant rcau --size 224 --sir-channels 128 --decoder-channels 128 --min-group 2 --max-group 8 \
  --optimizer adam --lr 3e-4 --schedule cosine --warmup 100 --steps 4000 \
  --lambda 0 --iou-weight 1 --boundary-weight 5 --decoder-context \
  --val-every 500 --checkpoint-every 250 \
  --seed 1 --threads 2 \
  --work-dir "$build/train-default.work" \
  --out "$out" "$@"
