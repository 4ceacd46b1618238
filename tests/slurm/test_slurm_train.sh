#!/usr/bin/env bash
# cosal-train on a real (one-node) Slurm cluster: `srun -n 2` starts two
# ranks from Slurm's own variables (rank, world, rendezvous host and port),
# and two ranks of 2 groups each take the same steps as one process of 4
# groups (per-step losses within 1e-5 relative: they differ only in the
# order of float sums; tests/test_distributed.cpp also compares weights).
# Skips (exit 77) only where the cluster cannot be started (not root).
set -euo pipefail
build=${COSAL_BUILD_DIR:?run through meson test}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster.sh
source "$here/cluster.sh"

trap cluster_stop EXIT
cluster_start
T=$SLURM_TMP
start=$(date +%s)
# The launcher's variables would win over Slurm's.
unset RANK WORLD_SIZE MASTER_ADDR MASTER_PORT

# A tiny DAVIS tree: two sequences of a moving ball, the mask its own picture.
for s in 1 2; do
  d="$T/davis/JPEGImages/480p/seq$s" m="$T/davis/Annotations/480p/seq$s"
  mkdir -p "$d" "$m"
  src="videotestsrc pattern=ball num-buffers=8 animation-mode=frames motion=sweep \
    background-color=$((0xff000000 + s * 0x202020)) ! video/x-raw,width=80,height=48"
  gst-launch-1.0 -q $src ! videoconvert ! jpegenc ! multifilesink location="$d/%05d.jpg"
  gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=8 animation-mode=frames motion=sweep ! \
    video/x-raw,width=80,height=48 ! videoconvert ! video/x-raw,format=GRAY8 ! pngenc ! \
    multifilesink location="$m/%05d.png"
done

train=(--davis "$T/davis" --synthetic-groups 0 --backbone tiny --size 64 --sir-channels 8
  --decoder-channels 8 --min-group 2 --max-group 3 --steps 12 --warmup 2 --optimizer sgd
  --lr 0.05 --val-every 0 --checkpoint-every 4 --log-every 1 --threads 1 --seed 9)

echo "--- one process, 4 groups a step"
"$build/tools/cosal-train" "${train[@]}" --batch-groups 4 \
  --out "$T/one/model.safetensors" --work-dir "$T/one/work" ||
  cluster_fail "the one-process run failed"

echo "--- srun -n 2, 2 groups a step on each rank"
srun -N 1 -n 2 -c 1 --kill-on-bad-exit=1 -o "$T/srun-%t.log" "$build/tools/cosal-train" \
  "${train[@]}" --batch-groups 2 --out "$T/two/model.safetensors" --work-dir "$T/two/work" ||
  { cat "$T"/srun-*.log >&2; cluster_fail "srun -n 2 cosal-train failed"; }
grep -q "2 data-parallel ranks" "$T"/srun-*.log ||
  { cat "$T"/srun-*.log >&2; cluster_fail "the srun run did not train as 2 ranks"; }
[ -f "$T/two/model.safetensors" ] || cluster_fail "rank 0 wrote no model"

# log.csv: step,...,loss,...; compare the loss column step by step.
col=$(head -1 "$T/one/work/log.csv" | tr ',' '\n' | grep -n '^loss$' | cut -d: -f1)
[ -n "$col" ] || cluster_fail "log.csv has no loss column: $(head -1 "$T/one/work/log.csv")"
paste -d, <(cut -d, -f"$col" "$T/one/work/log.csv" | tail -n +2) \
  <(cut -d, -f"$col" "$T/two/work/log.csv" | tail -n +2) >"$T/losses.csv"
steps=$(wc -l <"$T/losses.csv")
[ "$steps" -eq 12 ] || cluster_fail "expected 12 logged steps, got $steps"
awk -F, '{ d = $1 - $2; if (d < 0) d = -d; r = d / ($1 < 0 ? -$1 : $1);
           if (r > 1e-5) { printf "step %d: %s vs %s\n", NR, $1, $2; bad = 1 } }
         END { exit bad }' "$T/losses.csv" || cluster_fail "2 ranks diverge from one process"
echo "12 steps: srun -n 2 (2 groups per rank) = one process (4 groups), losses within 1e-5"
echo "PASS: slurm_train ($(($(date +%s) - start)) s)"
