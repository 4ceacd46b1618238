#!/bin/bash
# Where a real pipeline's CPU time goes, per frame and by part: runs
#   videotestsrc pattern=ball ! I420 WxH ! cosaliency PROPS ! fakesink sync=false
# under `perf record` (the software cpu-clock event, so it works on virtual
# machines without hardware counters) and sorts the samples of the streaming
# thread and its LibTorch/oneDNN workers by library and symbol into parts.
# The network's own split (backbone, RCAU step, decoder) is cosal-bench's or
# cosal-model-timing's; perf cannot tell those apart, since LibTorch ships
# without symbols.
#
#   tools/profile-pipeline.sh BUILD [WxH] [FRAMES] [-- cosaliency properties]
#   tools/profile-pipeline.sh build                    # 854x480, 900 frames, defaults
#   tools/profile-pipeline.sh build 1920x1080 300 -- threads=1
#
# Needs perf (Debian: linux-perf) with perf_event_paranoid <= 2 or root.
set -eu

build=${1:?usage: profile-pipeline.sh BUILD [WxH] [FRAMES] [-- PROPS...]}
shift
size=854x480
frames=900
if [ $# -gt 0 ] && [ "$1" != "--" ]; then size=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then frames=$1; shift; fi
[ "${1:-}" = "--" ] && shift
width=${size%x*} height=${size#*x}
command -v perf >/dev/null || { echo "profile-pipeline.sh: perf not found (apt install linux-perf)" >&2; exit 1; }
[ -d "$build/gst-plugin" ] || { echo "profile-pipeline.sh: $build/gst-plugin not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GST_PLUGIN_PATH=$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
rate=1999
start=$(date +%s.%N)
perf record -q -e cpu-clock -F $rate -o "$tmp/perf.data" -- \
  gst-launch-1.0 -q videotestsrc num-buffers="$frames" pattern=ball ! \
  "video/x-raw,format=I420,width=$width,height=$height,framerate=30/1" ! \
  cosaliency "$@" ! fakesink sync=false >"$tmp/gst.log" 2>&1 || {
  cat "$tmp/gst.log" >&2
  exit 1
}
wall=$(echo "$(date +%s.%N) - $start" | bc)

# The streaming thread is videotestsrc's ("videotestsrc0:s"); LibTorch's
# OpenMP workers inherit its name. The main thread only loads the model.
perf report -i "$tmp/perf.data" --comm 'videotestsrc0:s' --sort dso,sym -F sample,dso,sym \
  --stdio -t ';' 2>/dev/null | grep -v '^#' | grep -v '^$' >"$tmp/report.txt" || true
total=$(perf report -i "$tmp/perf.data" --sort comm --stdio -t ';' -F sample 2>/dev/null |
  awk -F';' '!/^#/ && NF {s += $1} END {print s + 0}')
streaming=$(perf report -i "$tmp/perf.data" --comm 'videotestsrc0:s' --sort comm --stdio -t ';' \
  -F sample 2>/dev/null | awk -F';' '!/^#/ && NF {s += $1} END {print s + 0}')

echo "pipeline: videotestsrc pattern=ball ! I420 ${width}x${height} ! cosaliency $* ! fakesink sync=false"
echo "frames: $frames, wall (with perf) $(printf '%.2f' "$wall") s = $(echo "$frames / $wall" | bc -l | xargs printf '%.1f') fps"
echo "CPU samples at $rate Hz: $total in all, $streaming in the streaming thread and its workers"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-50s %13s %7s\n' part 'CPU ms/frame' share
awk -F';' -v n="$streaming" -v rate=$rate -v frames="$frames" '
  function part(dso, sym) {
    if (dso ~ /libgomp/) return "OpenMP workers spinning or waiting (libgomp)"
    if (dso ~ /^\[JIT\]|libtorch|libdnnl|libc10|libsleef|libblas|libopenblas/) return "network (LibTorch, oneDNN)"
    if (dso ~ /orcexec|liborc|libgstvideo-/) return "colour conversion, scaling (GstVideoConverter)"
    if (dso ~ /videotestsrc/) return "source (videotestsrc)"
    if (sym ~ /MaskUpscaler|GuidedUpsampler/) return "mask upscale"
    if (dso ~ /libcosal|libgstcosaliency/) return "element and engine, other"
    if (sym ~ /malloc|free|memalign|realloc|calloc|consolidate|unlink_chunk|tcache|_int_/) return "memory allocation (glibc)"
    if (dso ~ /kernel/ && sym ~ /page|fault|clear_|zap|mmap|munmap|madvise|lru|memcg|unmap|pte|pmd|vma|folio/) return "page faults, mappings (kernel)"
    if (dso ~ /kernel/) return "kernel, other"
    if (dso ~ /libgst|libglib|libgobject/) return "GStreamer and GLib core"
    return "other"
  }
  { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); samples[part($2, $3)] += $1 }
  END {
    for (p in samples)
      printf "%d\t%-50s %13.2f %6.1f%%\n", samples[p], p, samples[p] / rate * 1000 / frames,
        100 * samples[p] / n
  }' "$tmp/report.txt" | sort -t$'\t' -k1,1 -n -r | cut -f2-
printf '%-50s %13.2f %6.1f%%\n' "all (streaming thread and its workers)" \
  "$(echo "$streaming / $rate * 1000 / $frames" | bc -l)" 100
