#!/usr/bin/env bash
# Recorded video -> mask video (white = foreground).
#
#   mask-video.sh [options] INPUT [OUTPUT]
#     --format mkv       lossless FFV1 GRAY8 in Matroska (default; OUTPUT <input name>-mask.mkv)
#     --format webm      VP8 in WebM (lossy, plays anywhere; OUTPUT <input name>-mask.webm)
#     --format png       8-bit PNG sequence (OUTPUT folder <input name>-mask/)
#     --threshold T      binary masks: 255 where the soft mask >= T (default: soft)
#     common options: --model --device --set --sink --dry-run (see common.sh)
#   The result is written under a temporary name and renamed when complete.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

FORMAT=mkv
THRESHOLD=0
cosal_parse_common "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --format) FORMAT=$2; shift 2 ;;
    --format=*) FORMAT=${1#*=}; shift ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --threshold=*) THRESHOLD=${1#*=}; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) cosal_die "unknown option $1" ;;
    *) REST+=("$1"); shift ;;
  esac
done
[ ${#REST[@]} -ge 1 ] || cosal_die "usage: mask-video.sh [options] INPUT [OUTPUT]"
[[ "$THRESHOLD" =~ ^[0-9]+$ && "$THRESHOLD" -le 255 ]] || cosal_die "--threshold must be 0-255"
INPUT=${REST[0]}
STEM=$(cosal_stem "$INPUT")
case "$FORMAT" in
  mkv) OUT=${REST[1]:-$STEM-mask.mkv}; TMP="$OUT.part"
       ENC="avenc_ffv1 ! matroskamux ! filesink location=$(cosal_q "$TMP")" ;;
  webm) OUT=${REST[1]:-$STEM-mask.webm}; TMP="$OUT.part"
        ENC="videoconvert ! vp8enc deadline=1 target-bitrate=2000000 ! webmmux ! filesink location=$(cosal_q "$TMP")" ;;
  png) OUT=${REST[1]:-$STEM-mask}; TMP="$OUT.part"
       rm -rf "$TMP"; mkdir -p "$TMP"
       ENC="pngenc ! multifilesink location=$(cosal_q "$TMP/mask-%05d.png")" ;;
  *) cosal_die "--format must be mkv, webm or png" ;;
esac
[ -z "$COSAL_SINK" ] || ENC=$COSAL_SINK

echo "mask-video: $INPUT -> $OUT" >&2
if cosal_run "$(cosal_source "$INPUT") ! $(cosal_element "output=mask threshold=$THRESHOLD") ! $ENC"; then
  [ "$COSAL_DRY_RUN" = 1 ] && exit 0
  [ -n "$COSAL_SINK" ] && exit 0
  rm -rf "$OUT"
  mv -T "$TMP" "$OUT"
  echo "mask-video: wrote $OUT" >&2
else
  rc=$?
  rm -rf "$TMP"
  exit $rc
fi
