#!/usr/bin/env bash
# Camera background blur: the foreground sharp over a blurred copy of the frame.
#
#   bg-blur.sh [options] [INPUT]
#     INPUT              camera device (default /dev/video0 via v4l2src), video
#                        file, URI, or videotestsrc[:N]
#     --blur N           blur strength: the background is scaled down N times
#                        and back up (default 12; cheap enough for live CPU use)
#     --size WxH         output size (default 640x480)
#     common options: --model --device --set --sink --dry-run (see common.sh)
#   Default sink: a window (autovideosink).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

BLUR=12
SIZE=640x480
cosal_parse_common "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --blur) BLUR=$2; shift 2 ;;
    --blur=*) BLUR=${1#*=}; shift ;;
    --size) SIZE=$2; shift 2 ;;
    --size=*) SIZE=${1#*=}; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) cosal_die "unknown option $1" ;;
    *) REST+=("$1"); shift ;;
  esac
done
INPUT=${REST[0]:-}
W=${SIZE%x*}; H=${SIZE#*x}
[[ "$W" =~ ^[0-9]+$ && "$H" =~ ^[0-9]+$ ]] || cosal_die "--size must be WxH"
[[ "$BLUR" =~ ^[0-9]+$ && "$BLUR" -ge 1 ]] || cosal_die "--blur must be a positive integer"
BW=$(( W / BLUR > 0 ? W / BLUR : 1 )); BH=$(( H / BLUR > 0 ? H / BLUR : 1 ))
SINK=${COSAL_SINK:-"videoconvert ! autovideosink"}

DESC="$(cosal_source "$INPUT") ! videoscale ! video/x-raw,width=$W,height=$H,pixel-aspect-ratio=1/1 ! tee name=t \
 t. ! queue ! videoscale method=bilinear2 ! video/x-raw,width=$BW,height=$BH ! videoscale method=bilinear ! video/x-raw,width=$W,height=$H ! videoconvert ! comp.sink_0 \
 t. ! queue ! $(cosal_element "output=alpha") ! comp.sink_1 \
 compositor name=comp ! $SINK"
echo "bg-blur: ${INPUT:-/dev/video0} -> ${COSAL_SINK:-a window}" >&2
cosal_run "$DESC"
