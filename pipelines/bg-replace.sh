#!/usr/bin/env bash
# Camera background replacement: the foreground over an image or a colour.
#
#   bg-replace.sh [options] [INPUT]
#     INPUT              camera device (default /dev/video0 via v4l2src), video
#                        file, URI, or videotestsrc[:N]
#     --background BG    image file, or a colour: #RRGGBB / 0xRRGGBB / green /
#                        blue / black / white / grey (default: green)
#     --size WxH         output size (default 640x480)
#     common options: --model --device --set --sink --dry-run (see common.sh)
#   Default sink: a window (autovideosink). Example for a file:
#     bg-replace.sh --background beach.jpg --sink "videoconvert ! pngenc ! multifilesink location=out-%05d.png" in.mp4
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

BG=green
SIZE=640x480
cosal_parse_common "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --background) BG=$2; shift 2 ;;
    --background=*) BG=${1#*=}; shift ;;
    --size) SIZE=$2; shift 2 ;;
    --size=*) SIZE=${1#*=}; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) cosal_die "unknown option $1" ;;
    *) REST+=("$1"); shift ;;
  esac
done
INPUT=${REST[0]:-}
W=${SIZE%x*}; H=${SIZE#*x}
[[ "$W" =~ ^[0-9]+$ && "$H" =~ ^[0-9]+$ ]] || cosal_die "--size must be WxH"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ -f "$BG" ]; then
  IMAGE=$BG
else
  case "$BG" in
    green) RGB=00b140 ;; blue) RGB=0047bb ;; black) RGB=000000 ;; white) RGB=ffffff ;;
    grey|gray) RGB=808080 ;;
    \#*) RGB=${BG#\#} ;; 0x*) RGB=${BG#0x} ;;
    *) cosal_die "--background: not a file nor a colour: $BG" ;;
  esac
  [[ "$RGB" =~ ^[0-9a-fA-F]{6}$ ]] || cosal_die "--background: bad colour $BG"
  # A one-colour image, made by GStreamer itself.
  IMAGE=$TMP/background.png
  gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=solid-color foreground-color="0xff$RGB" \
    ! video/x-raw,width=16,height=16 ! pngenc ! filesink location="$IMAGE" \
    || cosal_die "could not make the background colour image"
fi
SINK=${COSAL_SINK:-"videoconvert ! autovideosink"}

# The frames go two ways: one is painted over with the background (keeping the
# camera's timing, so the pipeline ends when the input does), the other is cut
# out by cosaliency; the compositor lays the cut-out over the background.
DESC="$(cosal_source "$INPUT") ! videoscale ! video/x-raw,width=$W,height=$H,pixel-aspect-ratio=1/1 ! tee name=t \
 t. ! queue ! videoconvert ! gdkpixbufoverlay location=$(cosal_q "$IMAGE") overlay-width=$W overlay-height=$H ! videoconvert ! comp.sink_0 \
 t. ! queue ! $(cosal_element "output=alpha") ! comp.sink_1 \
 compositor name=comp ! $SINK"
echo "bg-replace: ${INPUT:-/dev/video0} -> ${COSAL_SINK:-a window}" >&2
cosal_run "$DESC"
