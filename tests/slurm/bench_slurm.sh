#!/usr/bin/env bash
# Throughput of cosal-batch through Slurm on this machine: the same clips as
# 1 shard and as 2 shards (job array tasks). Not part of `meson test`:
#   COSAL_BUILD_DIR=build COSAL_SOURCE_DIR=. bash tests/slurm/bench_slurm.sh [CLIPS] [FRAMES] [WxH]
# Prints, per configuration, frames / wall seconds from cosal-batch --report
# (first task start to last task end; sbatch --wait polls too coarsely to time
# it from outside) and the load average.
set -euo pipefail
build=$(cd "${COSAL_BUILD_DIR:?}" && pwd)
source_dir=$(cd "${COSAL_SOURCE_DIR:?}" && pwd)
clips=${1:-4}
frames=${2:-60}
size=${3:-320x240}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster.sh
source "$here/cluster.sh"
trap cluster_stop EXIT
cluster_start
T=$SLURM_TMP
export COSAL_BATCH="$build/tools/cosal-batch"
export GST_PLUGIN_PATH="$build/gst-plugin"
export GST_REGISTRY="$T/registry.bin"
model="$source_dir/model/default.safetensors"
sbatch_script="$source_dir/pipelines/slurm/cosal-batch.sbatch"
mkdir -p "$T/clips" "$T/logs"
for i in $(seq "$clips"); do
  gst-launch-1.0 -q videotestsrc num-buffers="$frames" pattern=ball ! \
    "video/x-raw,width=${size%x*},height=${size#*x},framerate=25/1" ! vp8enc ! webmmux ! \
    filesink location="$T/clips/clip$i.webm"
done
echo "bench: $clips clips of $frames frames at $size, default model, $(nproc) CPUs"
run() {  # name array cpus [cosal-batch options]
  sbatch --wait --array="$2" --cpus-per-task="$3" -o "$T/logs/$1-%a.log" \
    "$sbatch_script" "$T/clips" "$T/$1" --model "$model" "${@:4}" >/dev/null ||
    cluster_fail "$1: $(cat "$T/logs/$1"-*.log)"
  "$COSAL_BATCH" --report "$T/$1" --json >"$T/$1.json"
  field() { sed -n "s/^ \"$1\": \([^,]*\),\?\$/\1/p" "$T/$2.json"; }
  printf '%-44s %5s frames in %6.1f s: %6.2f frames/s (load %s)\n' "$1 (--array=$2 -c $3${4:+ ${*:4}})" \
    "$(field frames "$1")" "$(field wall_seconds "$1")" "$(field fps "$1")" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}
run one-shard-1cpu 0 1
run one-shard-2cpu 0 2
run one-shard-2cpu-2files 0 2 -j 2
run two-shards-1cpu 0-1 1
