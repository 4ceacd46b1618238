#!/bin/bash
# How validation quality grows with the number of labelled training
# sequences: the default model's recipe (tools/train-default.sh, run as it
# is, with --exclude-groups) trained on nested random subsets of the DAVIS-2016
# training sequences (data/davis2016-train), validated as always on the 12
# DAVIS-2016 validation sequences (data/davis2016). Tells whoever plans data
# collection how much more labelled video a quality target needs. Prints a
# Markdown table and writes it to OUT/learning-curve.md; models, logs and the
# subsets stay under OUT.
#
#   tools/learning-curve.sh [BUILD_DIR] [OUT_DIR] [SIZES] [ORDERS]
#
# SIZES: subset sizes, comma-separated (10,20,30); the size of the whole set
# is run once, whatever the order. ORDERS: how many random orders of the
# sequences (2). Order k sorts the sequences by the MD5 of "k:<name>", the
# same order on every machine, and its subsets are nested (its first 10, its
# first 20, ...); every run trains with the recipe's seed, so runs differ only
# in their data.
# Resumable: a run whose model exists is skipped (its scores are read back
# from the model's provenance), one with a checkpoint continues from it; after
# an interruption, rerun the same command. DRY_RUN=1 prints the runs and their
# commands without training. Each run's feature cache (GBs) is deleted once its
# model is written, unless KEEP_FEATURES=1.
# Environment: as tools/train-default.sh (COSAL_SHARED_DIR, COSAL_STAMPS).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
out=${2:-$build/learning-curve}
sizes=${3:-10,20,30}
orders=${4:-2}
shared=${COSAL_SHARED_DIR:-$src/../shared}
dry=${DRY_RUN:-0}

frames=$shared/data/davis2016-train/JPEGImages/480p
if [ ! -d "$frames" ]; then
  echo "learning-curve.sh: $frames not found (set COSAL_SHARED_DIR)" >&2
  exit 1
fi
if ! [[ "$orders" =~ ^[1-9][0-9]*$ ]]; then
  echo "learning-curve.sh: ORDERS must be a positive number, not '$orders'" >&2
  exit 1
fi
[ "$dry" = 1 ] || mkdir -p "$out"

seqs=()
for d in "$frames"/*/; do seqs+=("$(basename "$d")"); done
total=${#seqs[@]}
if [ "$total" -lt 2 ]; then
  echo "learning-curve.sh: only $total training sequence(s) in $frames" >&2
  exit 1
fi

IFS=, read -r -a size_list <<< "$sizes"
for n in "${size_list[@]}"; do
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$total" ]; then
    echo "learning-curve.sh: subset size $n is not in 1..$total" >&2
    exit 1
  fi
done

# order = the sequences sorted by the MD5 of "$1:<name>": a fixed random
# order per seed, independent of any shell's or awk's random generator.
shuffled() {
  local s
  mapfile -t order < <(for s in "${seqs[@]}"; do
    printf '%s %s\n' "$(printf '%s:%s' "$1" "$s" | md5sum | cut -c1-32)" "$s"
  done | sort | cut -d' ' -f2)
}

# The best validation of a finished run, from its model's provenance (the
# safetensors header: an 8-byte little-endian length, then JSON; the
# provenance is a JSON string inside it, hence the backslashes dropped).
# Prints "Sm|MAE|J|F|best step|training seconds".
scores() {
  local n header
  n=$(od -An -tu8 -N8 "$1" | tr -d ' ')
  # shellcheck disable=SC1003 # tr's '\\' is one backslash
  header=$(head -c $((8 + n)) "$1" | tail -c +9 | tr -d '\\')
  val=$(grep -o '"validation":{[^{]*' <<< "$header") || {
    echo "learning-curve.sh: $1 holds no validation scores" >&2
    exit 1
  }
  field() { grep -o "\"$1\":[0-9.]*" <<< "$2" | head -1 | cut -d: -f2; }
  printf '%.3f|%.3f|%.3f|%.3f|%s|%s\n' "$(field s_measure "$val")" "$(field mae "$val")" \
    "$(field iou "$val")" "$(field boundary_f "$val")" "$(field best_step "$header")" \
    "$(field train_seconds "$header")"
}

# Trains run $1 on every sequence but those in $2 (comma-separated, may be
# empty), unless its model exists.
train() {
  local name=$1 exclude=$2
  local model=$out/$name.safetensors work=$out/$name.work
  local extra=(--feature-cache "$out/$name.features.bin" --work-dir "$work")
  [ -n "$exclude" ] && extra+=(--exclude-groups "$exclude")
  if [ -f "$model" ]; then
    echo "learning-curve.sh: $name done already ($model)" >&2
    return
  fi
  # A checkpoint is an interrupted run of this script: continue it.
  if [ -f "$work/checkpoint.pt" ]; then extra+=(--resume); else extra+=(--force); fi
  if [ "$dry" = 1 ]; then
    echo "COSAL_TRAIN_OUT=$model $src/tools/train-default.sh $build -- ${extra[*]}"
    return
  fi
  echo "learning-curve.sh: training $name (log: $out/$name.log)" >&2
  COSAL_TRAIN_OUT="$model" "$src/tools/train-default.sh" "$build" -- "${extra[@]}" \
    >> "$out/$name.log" 2>&1 ||
    { echo "learning-curve.sh: training $name failed; see $out/$name.log" >&2; exit 1; }
  [ "${KEEP_FEATURES:-0}" = 1 ] || rm -f "$out/$name.features.bin"
}

rows="" subsets=""
for n in "${size_list[@]}"; do
  # The whole set is the same data in every order: one run.
  k_max=$orders
  [ "$n" -eq "$total" ] && k_max=1
  for k in $(seq 1 "$k_max"); do
    shuffled "$k"
    if [ "$n" -eq "$total" ]; then name=lc-all label=all; else name=lc-$n-$k label=$k; fi
    kept=$(IFS=,; echo "${order[*]:0:n}")
    exclude=$(IFS=,; echo "${order[*]:n}")
    [ "$dry" = 1 ] || echo "$kept" > "$out/$name.groups"
    train "$name" "$exclude"
    subsets+="${subsets:+$'\n'}- $name: $kept"
    if [ "$dry" = 1 ]; then continue; fi
    line=$(scores "$out/$name.safetensors")
    IFS='|' read -r sm mae j f best secs <<< "$line"
    rows+=$'\n'"| $n | $label | $sm | $mae | $j | $f | $best | $((secs / 60)) min $((secs % 60)) s |"
  done
done
[ "$dry" = 1 ] && { printf 'Subsets:\n%s\n' "$subsets"; exit 0; }

{
  echo "Best validation (streaming, window 8, refresh 8) on the 12 DAVIS-2016 validation sequences,"
  echo "per-sequence means; the default recipe (tools/train-default.sh) on subsets of the $total training sequences."
  echo
  echo "| training sequences | order | Sm | MAE | J | F | best step | training time |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "${rows#$'\n'}"
  echo
  echo "Subsets (order k: the sequences sorted by MD5 of \"k:name\"):"
  echo
  echo "$subsets"
} > "$out/learning-curve.md.tmp"
mv "$out/learning-curve.md.tmp" "$out/learning-curve.md"
cat "$out/learning-curve.md"
