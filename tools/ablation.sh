#!/bin/sh
# The paper's ablation table (IJCAI 2019, Tables 2-3) redone on the project's
# validation sequences with the project's tools: every variant trained with the
# default model's recipe (tools/train-default.sh: the 30 DAVIS-2016 training
# sequences, MobileNetV2 blocks 6-12 fine-tuned, mirrored frames, synthetic
# groups on 10 % of steps, BCE + soft IoU), the same data, pool and seed (one
# shared feature cache), then evaluated on the 12 DAVIS-2016 validation
# sequences in streaming mode (as the element runs video), as whole
# groups of 5, 10 and 15 frames, and with one foreign "noise" image inserted
# into every group of 5. Prints a Markdown table and writes it to
# OUT/ablation.md; every model, map and evaluation stays under OUT.
#
#   tools/ablation.sh [BUILD_DIR] [OUT_DIR] [STEPS]
#
# Environment: COSAL_SHARED_DIR (default ../shared), COSAL_STAMPS (default
# /usr/share/tuxpaint/stamps), THREADS (2). It refuses to reuse a non-empty
# OUT_DIR unless FORCE=1.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
out=${2:-$build/ablation}
steps=${3:-1000}
shared=${COSAL_SHARED_DIR:-$src/../shared}
stamps=${COSAL_STAMPS:-/usr/share/tuxpaint/stamps}
threads=${THREADS:-2}
# Trained on the DAVIS-2016 training split, scored on all of its validation
# split (the sequences tools/train-default.sh validates on).
train_data=$shared/data/davis2016-train
val=bmx-trees,car-shadow,cows,dance-twirl,drift-chicane,drift-straight,goat,horsejump-high,motocross-jump,paragliding-launch,parkour,scooter-black
davis=$shared/data/davis2016
# A training frame: foreign to every validation group.
noise=$train_data/JPEGImages/480p/bear/00000.jpg

for t in cosal-train cosal-infer cosal-eval; do
  if [ ! -x "$build/tools/$t" ]; then
    echo "ablation.sh: $build/tools/$t not found; build first (meson compile -C $build)" >&2
    exit 1
  fi
done
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "ablation.sh: $out is not empty; set FORCE=1 to overwrite its results" >&2
  exit 1
fi
mkdir -p "$out"

# name:variant:extra cosal-train options
runs="baseline:baseline:
convgru:convgru:
rcau:rcau:
rcau+coperceptual:rcau:--lambda 0.1 --coperceptual-every 4
rcau-spatial-only:rcau_spatial:
rcau-channel-only:rcau_channel:
rcau-no-reset:rcau_no_reset:"

# The "(per-group mean)" row of cosal-eval's table: Sm maxF maxE MAE wF J F
# J&F ...; prints Sm / MAE / J / F.
score() {
  "$build/tools/cosal-eval" --pred "$1" --gt "$davis/Annotations/480p" --groups $val \
    --out "$2" --force 2>&1 |
    awk '/\(per-group mean\)/ { printf "%s / %s / %s / %s", $4, $7, $9, $10; exit }'
}

table="| variant | streaming Sm / MAE / J / F | group 5 | group 10 | group 15 | group 5 + 1 noise image | train s |
|---|---|---|---|---|---|---|"
echo "$runs" | while IFS=: read -r name variant extra; do
  [ -n "$name" ] || continue
  d=$out/$name
  mkdir -p "$d"
  t0=$(date +%s)
  # The baseline has no group path, so its pool has no distractors: its own cache.
  cache=$out/features-$([ "$variant" = baseline ] && echo single || echo group).pt
  # No --val-groups: the model is the last step's either way, and the
  # evaluations below score it on the validation sequences.
  # shellcheck disable=SC2086
  "$build/tools/cosal-train" --quiet --force \
    --davis "$train_data" \
    --stamps "$stamps" --synthetic-groups 300 --synthetic-members 6 --synthetic-fraction 0.1 \
    --backbone mobilenet_v2 --backbone-weights "$shared/weights/mobilenet_v2_1.0_224_quant.tflite" \
    --finetune-last-blocks 7 --backbone-lr-scale 0.1 --mirror \
    --variant "$variant" --size 224 --min-group 2 --max-group 8 \
    --optimizer adam --lr 3e-4 --schedule cosine --warmup 100 --steps "$steps" \
    --lambda 0 --iou-weight 1 $extra --val-every 0 --checkpoint-every 0 --seed 1 --threads "$threads" \
    --feature-cache "$cache" --work-dir "$d/work" --out "$d/model.safetensors"
  t1=$(date +%s)
  infer() {
    "$build/tools/cosal-infer" --model "$d/model.safetensors" --data "$davis" --groups $val \
      --threads "$threads" --force "$@" 2>/dev/null
  }
  infer --window 8 --refresh 8 --out "$d/streaming"  # the element's defaults
  row="| $name | $(score "$d/streaming" "$d/eval-streaming")"
  for n in 5 10 15; do
    infer --mode group --group-size $n --out "$d/group$n"
    row="$row | $(score "$d/group$n" "$d/eval-group$n")"
  done
  infer --mode group --group-size 5 --noise-image "$noise" --out "$d/noise"
  row="$row | $(score "$d/noise" "$d/eval-noise") | $((t1 - t0)) |"
  echo "$row" >>"$out/rows.md"
  echo "ablation.sh: $row" >&2
done
{
  echo "Per-group mean over $val (PySODMetrics definitions; Sm / MAE / J / F, J the IoU at 128 and F the DAVIS boundary measure)."
  echo "Each variant: $steps steps of the same recipe (tools/ablation.sh: the default's, BCE + soft IoU, Adam, MobileNetV2 blocks 6-12 fine-tuned, seed 1)."
  echo
  echo "$table"
  cat "$out/rows.md"
} >"$out/ablation.md.tmp"
mv "$out/ablation.md.tmp" "$out/ablation.md"
cat "$out/ablation.md"
