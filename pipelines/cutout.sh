#!/usr/bin/env bash
# Recorded video -> cut-out with transparency.
#
#   cutout.sh [options] INPUT [OUTPUT]
#     --format png       PNG sequence with alpha, OUTPUT is a folder
#                        (default OUTPUT: <input name>-cutout/, frames frame-00000.png ...)
#     --format mkv       lossless FFV1 BGRA in Matroska, alpha kept
#                        (default OUTPUT: <input name>-cutout.mkv)
#     common options: --model --device --set --sink --dry-run (see common.sh)
#   (GStreamer's vp8enc cannot encode alpha, so WebM with alpha is not offered.)
#   The result is written under a temporary name and renamed when complete.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

FORMAT=png
cosal_parse_common "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --format) FORMAT=$2; shift 2 ;;
    --format=*) FORMAT=${1#*=}; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) cosal_die "unknown option $1" ;;
    *) REST+=("$1"); shift ;;
  esac
done
[ ${#REST[@]} -ge 1 ] || cosal_die "usage: cutout.sh [options] INPUT [OUTPUT]"
INPUT=${REST[0]}
STEM=$(cosal_stem "$INPUT")
case "$FORMAT" in
  png) OUT=${REST[1]:-$STEM-cutout}; TMP="$OUT.part"
       rm -rf "$TMP"; mkdir -p "$TMP"
       ENC="videoconvert ! video/x-raw,format=RGBA ! pngenc ! multifilesink location=$(cosal_q "$TMP/frame-%05d.png")" ;;
  mkv) OUT=${REST[1]:-$STEM-cutout.mkv}; TMP="$OUT.part"
       ENC="videoconvert ! video/x-raw,format=BGRA ! avenc_ffv1 ! matroskamux ! filesink location=$(cosal_q "$TMP")" ;;
  *) cosal_die "--format must be png or mkv" ;;
esac
[ -z "$COSAL_SINK" ] || ENC=$COSAL_SINK

echo "cutout: $INPUT -> $OUT" >&2
if cosal_run "$(cosal_source "$INPUT") ! $(cosal_element "output=alpha") ! $ENC"; then
  [ "$COSAL_DRY_RUN" = 1 ] && exit 0
  [ -n "$COSAL_SINK" ] && exit 0
  rm -rf "$OUT"
  mv -T "$TMP" "$OUT"
  echo "cutout: wrote $OUT" >&2
else
  rc=$?
  rm -rf "$TMP"
  exit $rc
fi
