#!/usr/bin/env bash
# Image folder -> masks, the images forming one co-saliency group.
#
#   folder-masks.sh [options] FOLDER [OUTPUT]
#     FOLDER             images (JPEG, PNG, BMP, ...), taken in name order
#     OUTPUT             folder for <image name>.png masks at each image's own size
#                        (default: <FOLDER>-masks)
#     --size WxH         common size the images are scaled to for the group
#                        (default 320x320; the element then scales to the model's input)
#     --threshold T      binary masks: 255 where the soft mask >= T (default: soft)
#     common options: --model --device --set --dry-run (see common.sh)
#   Every image is decoded against the group feature of all images (window
#   mode with a window covering the folder; up to 128 images form one group,
#   larger folders a sliding window of 255). Masks are written to a temporary
#   folder renamed when complete.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/common.sh"

SIZE=320x320
THRESHOLD=0
cosal_parse_common "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2 ;;
    --size=*) SIZE=${1#*=}; shift ;;
    --threshold) THRESHOLD=$2; shift 2 ;;
    --threshold=*) THRESHOLD=${1#*=}; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) cosal_die "unknown option $1" ;;
    *) REST+=("$1"); shift ;;
  esac
done
[ ${#REST[@]} -ge 1 ] || cosal_die "usage: folder-masks.sh [options] FOLDER [OUTPUT]"
DIR=${REST[0]%/}
[ -d "$DIR" ] || cosal_die "not a folder: $DIR"
OUT=${REST[1]:-$DIR-masks}
W=${SIZE%x*}; H=${SIZE#*x}
[[ "$W" =~ ^[0-9]+$ && "$H" =~ ^[0-9]+$ && $W -gt 0 && $H -gt 0 ]] || cosal_die "--size must be WxH"
W=$(( (W + 3) / 4 * 4 ))  # GRAY8 rows then have no padding
[[ "$THRESHOLD" =~ ^[0-9]+$ && "$THRESHOLD" -le 255 ]] || cosal_die "--threshold must be 0-255"

mapfile -t IMAGES < <(find "$DIR" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' \
  -o -iname '*.png' -o -iname '*.bmp' -o -iname '*.gif' -o -iname '*.tif' -o -iname '*.tiff' \
  -o -iname '*.webp' \) | LC_ALL=C sort)
N=${#IMAGES[@]}
[ "$N" -gt 0 ] || cosal_die "no images in $DIR"
WINDOW=$(( 2 * N - 1 )); [ $WINDOW -le 255 ] || WINDOW=255

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "folder-masks: $N images in $DIR -> $OUT" >&2

# 1. Each image decoded and scaled to the common size, recording its own size.
SIZES=()
for i in "${!IMAGES[@]}"; do
  img=${IMAGES[$i]}
  log=$(gst-launch-1.0 -v filesrc location="$img" ! decodebin ! videoconvert name=orig \
        ! videoscale ! "video/x-raw,format=RGB,width=$W,height=$H,pixel-aspect-ratio=1/1" \
        ! filesink location="$TMP/$(printf %05d "$i").rgb" 2>&1) \
    || cosal_die "could not decode ${img}: $(echo "$log" | grep -m1 ERROR || true)"
  caps=$(echo "$log" | grep -m1 'orig.GstPad:src: caps' || true)
  ow=$(echo "$caps" | sed -n 's/.*width=(int)\([0-9]*\).*/\1/p')
  oh=$(echo "$caps" | sed -n 's/.*height=(int)\([0-9]*\).*/\1/p')
  if [ -z "$ow" ] || [ -z "$oh" ]; then cosal_die "could not read the size of $img"; fi
  SIZES+=("${ow}x${oh}")
done
cat "$TMP"/*.rgb > "$TMP/group.rgb"

# 2. The group through the element; one GRAY8 mask file per image.
DESC="filesrc location=$(cosal_q "$TMP/group.rgb") ! rawvideoparse format=rgb width=$W height=$H framerate=1/1 \
 ! $(cosal_element "output=mask mode=window window-size=$WINDOW refresh-interval=1 threshold=$THRESHOLD") \
 ! multifilesink location=$(cosal_q "$TMP/mask-%05d.gray")"
if [ "$COSAL_DRY_RUN" = 1 ]; then cosal_run "$DESC"; exit 0; fi
cosal_run "$DESC" || cosal_die "inference failed"

# 3. Each mask back to its image's size, as <image name>.png.
rm -rf "$OUT.part"
mkdir -p "$OUT.part"
for i in "${!IMAGES[@]}"; do
  name=$(basename -- "${IMAGES[$i]}"); name=${name%.*}
  ow=${SIZES[$i]%x*}; oh=${SIZES[$i]#*x}
  gst-launch-1.0 -q filesrc location="$TMP/mask-$(printf %05d "$i").gray" \
    ! rawvideoparse format=gray8 width="$W" height="$H" framerate=1/1 \
    ! videoscale ! "video/x-raw,width=$ow,height=$oh" ! pngenc \
    ! filesink location="$OUT.part/$name.png" >/dev/null || cosal_die "could not write the mask of $name"
done
rm -rf "$OUT"
mv -T "$OUT.part" "$OUT"
echo "folder-masks: wrote $N masks to $OUT" >&2
