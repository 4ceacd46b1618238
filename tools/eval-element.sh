#!/bin/bash
# Runs the GStreamer element itself (gst-launch, default properties unless
# given) over DAVIS sequences and scores its masks with cosal-eval: the
# numbers a user of the element gets, not cosal-infer's re-implementation of
# its loop. Frames are decoded by jpegdec, as a user's pipeline would.
#
#   tools/eval-element.sh BUILD OUT [SEQ,SEQ,...] [-- element properties...]
#   tools/eval-element.sh build eval-element          # the 12 DAVIS-2016 validation sequences
#   tools/eval-element.sh build e drift-straight -- window-size=16
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: eval-element.sh BUILD OUT [SEQS] [-- PROPS...]}
out=${2:?usage: eval-element.sh BUILD OUT [SEQS] [-- PROPS...]}
shift 2
# Every sequence of ../shared/data/davis2016 (DAVIS-2016 validation, never trained on).
seqs=bmx-trees,car-shadow,cows,dance-twirl,drift-chicane,drift-straight,goat,horsejump-high,motocross-jump,paragliding-launch,parkour,scooter-black
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  seqs=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
# Relative to the current folder: cosal-eval's summary.json records the
# paths, and a committed summary should not carry the machine's checkout.
davis=$(realpath -m --relative-to=. "${COSAL_SHARED_DIR:-$src/../shared}/data/davis2016")

if [ -e "$out" ]; then
  echo "eval-element.sh: $out exists; remove it or choose another folder" >&2
  exit 1
fi
export GST_PLUGIN_PATH=$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
mkdir -p "$out/masks"
for s in ${seqs//,/ }; do
  frames=$davis/JPEGImages/480p/$s
  [ -d "$frames" ] || { echo "eval-element.sh: $frames not found" >&2; exit 1; }
  mkdir -p "$out/masks/$s"
  first=$(ls "$frames" | head -1)
  # qos=false: every frame is scored, none dropped for being late.
  gst-launch-1.0 -q multifilesrc location="$frames/%05d.jpg" index="${first%.jpg}" \
    caps="image/jpeg,framerate=24/1" ! jpegdec ! videoconvert ! \
    cosaliency output=mask qos=false "$@" ! pngenc ! \
    multifilesink location="$out/masks/$s/%05d.png" index="${first%.jpg}" >"$out/gst-$s.log" 2>&1 || {
    echo "eval-element.sh: the pipeline failed on $s (see $out/gst-$s.log)" >&2
    exit 1
  }
done
"$build/tools/cosal-eval" --pred element="$out/masks" --gt "$davis/Annotations/480p" \
  --groups "$seqs" --out "$out/eval"
