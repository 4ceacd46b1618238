#!/usr/bin/env bash
# cosal-batch on a real (one-node) Slurm cluster: pipelines/slurm's job array
# over a folder of clips equals one process's run frame for frame; a task
# cancelled mid-way (scancel) and resubmitted redoes only what was missing;
# the merged report counts every frame once. Skips (exit 77) only where the
# cluster cannot be started (not root). Run by `meson test -C build slurm`.
set -euo pipefail
build=${COSAL_BUILD_DIR:?run through meson test}
source_dir=${COSAL_SOURCE_DIR:?run through meson test}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster.sh
source "$here/cluster.sh"

trap cluster_stop EXIT
cluster_start
T=$SLURM_TMP
start=$(date +%s)

export COSAL_BATCH="$build/tools/cosal-batch"
export GST_PLUGIN_PATH="$build/gst-plugin"
export GST_REGISTRY="$T/registry.bin"  # other builds' plugins stay out
model="$source_dir/model/default.safetensors"
[ -f "$model" ] || cluster_fail "no $model"
sbatch_script="$source_dir/pipelines/slurm/cosal-batch.sbatch"
# One thread everywhere: the same arithmetic in every process, so the masks
# can be compared exactly.
opts=(--model "$model" --set threads=1)

# Five short clips; c3 is long enough to be cancelled while it runs.
mkdir -p "$T/clips" "$T/logs"
patterns=(ball smpte pinwheel circular spokes)
for i in 0 1 2 3 4; do
  frames=12
  [ "$i" -eq 3 ] && frames=240
  gst-launch-1.0 -q videotestsrc num-buffers=$frames pattern=${patterns[$i]} ! \
    video/x-raw,width=64,height=48,framerate=10/1 ! vp8enc ! webmmux ! \
    filesink location="$T/clips/c$i.webm"
done
expected_frames=$((4 * 12 + 240))

# Decoded frames of an FFV1 mask video (the container itself is not
# reproducible: matroskamux writes a random SegmentUID and the date).
decode() {
  gst-launch-1.0 -q filesrc location="$1" ! matroskademux ! avdec_ffv1 ! filesink location="$2"
}
same_masks() {  # dir_a dir_b
  local f name
  for f in "$1"/c*-mask.mkv; do
    name=$(basename "$f")
    [ -f "$2/$name" ] || cluster_fail "$2/$name missing"
    decode "$f" "$T/a.raw"
    decode "$2/$name" "$T/b.raw"
    [ -s "$T/a.raw" ] || cluster_fail "$f decodes to nothing"
    cmp -s "$T/a.raw" "$T/b.raw" || cluster_fail "$name: frames differ between $1 and $2"
  done
  [ "$(ls "$1")" = "$(ls "$2")" ] || cluster_fail "different outputs: $(ls "$1") / $(ls "$2")"
  if ls "$2" | grep -q '\.part$'; then cluster_fail ".part left in $2"; fi
}
report_frames() {
  "$COSAL_BATCH" --report "$1" --json | sed -n 's/^ "frames": \([0-9]*\),$/\1/p'
}

echo "--- one process, no Slurm"
"$COSAL_BATCH" -o "$T/single" "${opts[@]}" "$T/clips" 2>"$T/logs/single.log" ||
  cluster_fail "single run: $(cat "$T/logs/single.log")"

echo "--- job array of 2 tasks (ids 1-2: shards from SLURM_ARRAY_TASK_MIN)"
sbatch --wait --array=1-2 --cpus-per-task=1 -o "$T/logs/array-%a.log" \
  "$sbatch_script" "$T/clips" "$T/array" "${opts[@]}" >/dev/null ||
  cluster_fail "array failed: $(cat "$T"/logs/array-*.log)"
grep -q "shard 0/2 (SLURM_ARRAY_TASK_ID)" "$T/logs/array-1.log" || cluster_fail "$(cat "$T/logs/array-1.log")"
grep -q "shard 1/2 (SLURM_ARRAY_TASK_ID): 2 file(s), 1 at once, 1 thread(s)" "$T/logs/array-2.log" ||
  cluster_fail "$(cat "$T/logs/array-2.log")"
same_masks "$T/single" "$T/array"
identical=0
for f in "$T"/single/c*-mask.mkv; do cmp -s "$f" "$T/array/$(basename "$f")" && identical=$((identical + 1)); done
echo "union of the shards = single run, frame for frame ($identical of 5 files also byte-identical)"
[ "$(report_frames "$T/array")" = "$expected_frames" ] || cluster_fail "report: $("$COSAL_BATCH" --report "$T/array")"
"$COSAL_BATCH" --report "$T/array"

echo "--- cancel task 2 (shard 1: c1, c3) while it writes c3, then resubmit it"
job=$(sbatch --parsable --array=1-2 --cpus-per-task=1 -o "$T/logs/cancel-%a.log" \
  "$sbatch_script" "$T/clips" "$T/cancel" "${opts[@]}")
for _ in $(seq 600); do
  [ -f "$T/cancel/c1-mask.mkv" ] && [ -f "$T/cancel/c3-mask.mkv.part" ] && break
  sleep 0.1
done
[ -f "$T/cancel/c3-mask.mkv.part" ] || cluster_fail "c3 never started: $(cat "$T"/logs/cancel-*.log)"
scancel "${job}_2"
cluster_wait_idle || cluster_fail "jobs still queued"
grep -q "interrupted" "$T/logs/cancel-2.log" || cluster_fail "task 2 not interrupted: $(cat "$T/logs/cancel-2.log")"
[ ! -e "$T/cancel/c3-mask.mkv" ] || cluster_fail "c3 finished before the cancel"
[ ! -e "$T/cancel/c3-mask.mkv.part" ] || cluster_fail "c3's .part left behind"
stamp() { stat -c '%i %y' "$T"/cancel/c[0124]-mask.mkv; }
before=$(stamp)
# The same shard again, alone: the count makes the task id the shard.
COSAL_SHARD_COUNT=2 sbatch --wait --array=1 --cpus-per-task=1 -o "$T/logs/resubmit-%a.log" \
  "$sbatch_script" "$T/clips" "$T/cancel" "${opts[@]}" >/dev/null ||
  cluster_fail "resubmit failed: $(cat "$T"/logs/resubmit-*.log)"
grep -q "1 written, 1 skipped, 0 failed" "$T/logs/resubmit-1.log" ||
  cluster_fail "resubmit did more than c3: $(cat "$T/logs/resubmit-1.log")"
[ "$(stamp)" = "$before" ] || cluster_fail "complete outputs were rewritten: $before / $(stamp)"
same_masks "$T/single" "$T/cancel"
"$COSAL_BATCH" --report "$T/cancel"
[ "$(report_frames "$T/cancel")" = "$expected_frames" ] ||
  cluster_fail "report counts $(report_frames "$T/cancel") frames, not $expected_frames"
echo "PASS: slurm ($(($(date +%s) - start)) s)"
