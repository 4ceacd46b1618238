#!/usr/bin/env bash
# Checks too long for CI (README "Reliability"): the soak, 20,000 frames at
# 854x480 through the element on the default model, resident memory sampled
# every 500 frames (the curve is printed; it fails if RSS after warm-up grows
# by more than 16 MiB).
#
#   bash tools/run-long-checks.sh [extra soak_element options]
#   e.g. nice -n 15 bash tools/run-long-checks.sh --frames 20000
set -euo pipefail
cd "$(dirname "$0")/.."
builddir="${BUILDDIR:-build}"
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" -Dwerror=true -Dtests=enabled
fi
meson compile -C "$builddir" tests/soak_element
start=$(date +%s)
"$builddir/tests/soak_element" --frames 20000 --every 500 --warmup 1000 \
  --width 854 --height 480 --model model/default.safetensors "$@"
echo "run-long-checks: soak took $(($(date +%s) - start)) s"
