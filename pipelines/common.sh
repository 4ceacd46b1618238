# shellcheck shell=bash disable=SC2034  # variables are for the scripts that source this
# Shared helpers for the cosaliency pipeline scripts (sourced, not run).
#
# Options every script accepts (parsed by cosal_parse_common):
#   --model PATH       weights file (default: $COSAL_MODEL, else the element's
#                      installed default model)
#   --device DEV       auto | cpu | cuda | cuda:N (default: auto)
#   --set PROP=VALUE   any other cosaliency property, e.g. --set mode=window
#                      (repeatable)
#   --sink DESC        gst-launch description of what receives the result
#   --dry-run          print the gst-launch command instead of running it
# Inputs: a video file, a file:// or other URI, a V4L2 device (/dev/videoN),
# or "videotestsrc[:N]" (N test frames; handy for trying a pipeline).

COSAL_MODEL_OPT="${COSAL_MODEL:-}"
COSAL_DEVICE="auto"
COSAL_PROPS=""
COSAL_SINK=""
COSAL_DRY_RUN=0
ARGS=()

cosal_die() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# Quotes a value for the shell that cosal_run evaluates the description with:
# gst-launch then gets it as one argument (spaces and all).
cosal_q() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}

cosal_parse_common() {
  ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --model) [ $# -ge 2 ] || cosal_die "--model needs a path"; COSAL_MODEL_OPT=$2; shift 2 ;;
      --model=*) COSAL_MODEL_OPT=${1#*=}; shift ;;
      --device) [ $# -ge 2 ] || cosal_die "--device needs a value"; COSAL_DEVICE=$2; shift 2 ;;
      --device=*) COSAL_DEVICE=${1#*=}; shift ;;
      --set) [ $# -ge 2 ] || cosal_die "--set needs PROP=VALUE"; COSAL_PROPS="$COSAL_PROPS $2"; shift 2 ;;
      --set=*) COSAL_PROPS="$COSAL_PROPS ${1#*=}"; shift ;;
      --sink) [ $# -ge 2 ] || cosal_die "--sink needs a description"; COSAL_SINK=$2; shift 2 ;;
      --sink=*) COSAL_SINK=${1#*=}; shift ;;
      --dry-run) COSAL_DRY_RUN=1; shift ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
  if [ -n "$COSAL_MODEL_OPT" ] && [ ! -f "$COSAL_MODEL_OPT" ]; then
    cosal_die "model file not found: $COSAL_MODEL_OPT"
  fi
}

# The cosaliency element with the common options and extra properties ($1).
cosal_element() {
  local d="cosaliency device=$COSAL_DEVICE"
  [ -n "$COSAL_MODEL_OPT" ] && d="$d model=$(cosal_q "$COSAL_MODEL_OPT")"
  echo "$d $1$COSAL_PROPS"
}

# A source description for an input, decoded to raw video.
cosal_source() {
  local in=$1
  case "$in" in
    "" ) echo "v4l2src ! videoconvert" ;;
    /dev/video*) echo "v4l2src device=$(cosal_q "$in") ! videoconvert" ;;
    videotestsrc) echo "videotestsrc pattern=ball ! videoconvert" ;;
    videotestsrc:*) echo "videotestsrc pattern=ball num-buffers=${in#videotestsrc:} ! videoconvert" ;;
    *://*) echo "uridecodebin uri=$(cosal_q "$in") ! videoconvert" ;;
    *)
      [ -f "$in" ] || cosal_die "input not found: $in"
      echo "filesrc location=$(cosal_q "$in") ! decodebin ! videoconvert" ;;
  esac
}

# Runs gst-launch-1.0 on a description (-e: EOS on Ctrl-C so files are finalised).
cosal_run() {
  if [ "$COSAL_DRY_RUN" = 1 ]; then
    echo "gst-launch-1.0 -e $1"
    return 0
  fi
  # gst-launch takes the description as words (it escapes each argument).
  eval "gst-launch-1.0 -e -q $1"
}

# The output name for an input: its file name without extension.
cosal_stem() {
  local b
  b=$(basename -- "${1%%\?*}")
  b=${b%.*}
  [ -n "$b" ] || b=output
  echo "$b"
}
