#!/bin/bash
# How validation quality grows with the number of labelled training
# sequences: the default model's recipe (tools/train-default.sh, unchanged)
# trained on nested random subsets of the training sequences (every DAVIS
# sequence but the 3 validation ones), validated on the validation sequences
# as always. Tells whoever plans data collection how much more labelled video
# a quality target needs. Prints a Markdown table and writes it to
# OUT/learning-curve.md; models, logs and feature caches stay under OUT.
#
#   tools/learning-curve.sh [BUILD_DIR] [OUT_DIR] [SIZES] [SHUFFLES]
#
# SIZES: subset sizes, comma-separated (3,5,7); the full set is always run
# once too. SHUFFLES: random orders of the sequences (2); shuffle k's order
# comes from bash's RANDOM seeded with k, and its subsets are nested (its
# first 3, first 5, ...).
# Environment: as tools/train-default.sh (COSAL_SHARED_DIR, COSAL_STAMPS).
# It refuses to reuse a non-empty OUT_DIR unless FORCE=1.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
out=${2:-$build/learning-curve}
sizes=${3:-3,5,7}
shuffles=${4:-2}
shared=${COSAL_SHARED_DIR:-$src/../shared}
# Must match tools/train-default.sh, which validates on them.
val=" drift-straight paragliding-launch scooter-black "

frames=$shared/data/davis2016/JPEGImages/480p
if [ ! -d "$frames" ]; then
  echo "learning-curve.sh: $frames not found (set COSAL_SHARED_DIR)" >&2
  exit 1
fi
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "learning-curve.sh: $out is not empty; set FORCE=1 to overwrite its results" >&2
  exit 1
fi
mkdir -p "$out"

train_seqs=()
for d in "$frames"/*/; do
  s=$(basename "$d")
  [[ "$val" == *" $s "* ]] || train_seqs+=("$s")
done
total=${#train_seqs[@]}
if [ "$total" -lt 2 ]; then
  echo "learning-curve.sh: only $total training sequence(s) in $frames" >&2
  exit 1
fi

# order = train_seqs in a random order fixed by the seed $1 (Fisher-Yates on
# bash's seeded RANDOM: the same order on every run of one bash version).
shuffled() {
  RANDOM=$1
  order=("${train_seqs[@]}")
  local i j t
  for ((i = ${#order[@]} - 1; i > 0; --i)); do
    j=$((RANDOM % (i + 1)))
    t=${order[i]} order[i]=${order[j]} order[j]=$t
  done
}

# The best and the last validation S-measure of a run's log.csv.
scores() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "val_sm") c = i; next }
           c && $c != "" { if ($c > best) best = $c; last = $c }
           END { if (c == 0 || last == "") exit 1; printf "%.3f / %.3f", best, last }' "$1"
}

# Trains on the sequences not in "$2" (comma-separated, may be empty); prints
# "best / last".
run() {
  local name=$1 exclude=$2
  local extra=()
  [ -n "$exclude" ] && extra=(--exclude-groups "$exclude")
  echo "learning-curve.sh: $name${exclude:+ (without $exclude)}" >&2
  COSAL_TRAIN_OUT="$out/$name.safetensors" "$src/tools/train-default.sh" "$build" -- \
    --force --quiet --feature-cache "$out/$name.features.bin" --work-dir "$out/$name.work" \
    ${extra[@]+"${extra[@]}"} > "$out/$name.log" 2>&1 ||
    { echo "learning-curve.sh: training $name failed; see $out/$name.log" >&2; exit 1; }
  scores "$out/$name.work/log.csv"
}

table="| training sequences | subsets | best / last validation Sm per shuffle |
|---|---|---|"
IFS=, read -r -a size_list <<< "$sizes"
for n in "${size_list[@]}"; do
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -ge "$total" ]; then
    echo "learning-curve.sh: subset size $n is not in 1..$((total - 1))" >&2
    exit 1
  fi
done
for n in "${size_list[@]}"; do
  cells="" subsets=""
  for k in $(seq 1 "$shuffles"); do
    shuffled "$k"
    kept=$(IFS=,; echo "${order[*]:0:n}")
    exclude=$(IFS=,; echo "${order[*]:n}")
    cells+="${cells:+ · }$(run "lc-$n-$k" "$exclude")"
    subsets+="${subsets:+; }$kept"
  done
  table+=$'\n'"| $n | $subsets | $cells |"
done
table+=$'\n'"| $total (all) | – | $(run "lc-all" "") |"

printf '%s\n' "$table" | tee "$out/learning-curve.md"
