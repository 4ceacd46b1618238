#!/bin/bash
# Frames per second of the element the way a user runs it: gst-launch with a
# live-generated source, colour conversion in and the alpha output, on the
# same cores as the network. For each size and window:
#
#   gst-launch-1.0 -q videotestsrc num-buffers=N pattern=ball ! \
#     video/x-raw,format=I420,width=W,height=H,framerate=30/1 ! \
#     cosaliency window-size=K PROPS ! fakesink sync=false
#
# timed whole (wall clock, CPU time and peak resident memory of the process,
# model loading included), then the same source into fakesink alone (what
# generating the frames costs). With --repeat R every run is made R times,
# the sizes and windows interleaved, and the median is printed with the
# range: on a shared or virtual machine one run can be 15 % off the next. With --with-bench, cosal-bench runs after,
# so that both sets of numbers come from one run on one machine.
#
#   tools/bench-pipeline.sh BUILD [--frames N] [--sizes WxH,...] [--windows K,...] [--repeat R]
#                           [--with-bench [--bench-args 'ARGS']] [-- cosaliency properties]
set -eu

build=${1:?usage: bench-pipeline.sh BUILD [--frames N] [--sizes WxH,...] [--windows K,...] [--with-bench] [-- PROPS]}
shift
frames=900
sizes=854x480,1280x720,1920x1080
windows=5,30
repeat=1
with_bench=0
bench_args=()
while [ $# -gt 0 ]; do
  case $1 in
  --frames) frames=$2; shift 2 ;;
  --sizes) sizes=$2; shift 2 ;;
  --windows) windows=$2; shift 2 ;;
  --repeat) repeat=$2; shift 2 ;;
  --with-bench) with_bench=1; shift ;;
  --bench-args) read -r -a bench_args <<<"$2"; shift 2 ;;
  --) shift; break ;;
  *) echo "bench-pipeline.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -d "$build/gst-plugin" ] || { echo "bench-pipeline.sh: $build/gst-plugin not found" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-pipeline.sh: /usr/bin/time not found (apt install time)" >&2; exit 1; }
export GST_PLUGIN_PATH=$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs one gst-launch pipeline; prints "wall user sys maxrss_kib".
timed() {
  /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" gst-launch-1.0 -q "$@" >"$tmp/gst.log" 2>&1 || {
    cat "$tmp/gst.log" >&2
    return 1
  }
  cat "$tmp/time"
}

echo "bench-pipeline  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; GStreamer $(gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1)"
echo "element properties: ${*:-(defaults)}; $frames frames per run, $repeat run(s) each; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# One line per run into $tmp/runs: size window fps ms cpu_ms rss_mib source_fps.
for ((r = 1; r <= repeat; r++)); do
  for size in ${sizes//,/ }; do
    w=${size%x*} h=${size#*x}
    caps="video/x-raw,format=I420,width=$w,height=$h,framerate=30/1"
    read -r swall _ <<<"$(timed videotestsrc num-buffers="$frames" pattern=ball ! "$caps" ! fakesink sync=false)"
    for k in ${windows//,/ }; do
      read -r wall user sys rss <<<"$(timed videotestsrc num-buffers="$frames" pattern=ball ! "$caps" ! \
        cosaliency window-size="$k" "$@" ! fakesink sync=false)"
      awk -v s="$size" -v k="$k" -v n="$frames" -v wall="$wall" -v u="$user" -v sy="$sys" \
        -v rss="$rss" -v sw="$swall" 'BEGIN { printf "%s %d %.2f %.2f %.2f %.0f %.0f\n", s, k,
          n / wall, 1000 * wall / n, 1000 * (u + sy) / n, rss / 1024, (sw > 0 ? n / sw : 0) }' >>"$tmp/runs"
    done
  done
done
printf '%-10s %7s %9s %13s %12s %12s %9s %11s\n' size window fps 'fps range' 'ms/frame' 'CPU ms/frame' 'RSS MiB' 'source fps'
for size in ${sizes//,/ }; do
  for k in ${windows//,/ }; do
    awk -v s="$size" -v k="$k" '$1 == s && $2 == k' "$tmp/runs" | sort -k3,3 -g | awk '
      { fps[NR] = $3; ms[NR] = $4; cpu[NR] = $5; rss = ($6 > rss ? $6 : rss); src[NR] = $7; s = $1; k = $2 }
      END { m = int((NR + 1) / 2)
        printf "%-10s %7d %9.1f %13s %12.2f %12.2f %9.0f %11.0f\n", s, k, fps[m],
          sprintf("%.1f-%.1f", fps[1], fps[NR]), ms[m], cpu[m], rss, src[m] }'
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(median of the runs; fps and ms/frame over the whole run, model loading included; CPU ms/frame:"
echo " user + system of all threads; RSS: the largest peak; source fps: videotestsrc into fakesink alone)"
if [ "$with_bench" = 1 ]; then
  echo
  "$build/tools/cosal-bench" "${bench_args[@]}"
fi
