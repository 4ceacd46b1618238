#!/usr/bin/env bash
# The CUDA path in one call, on a machine with an NVIDIA GPU:
#   bash tools/gpu-check.sh /path/to/libtorch [BUILD_DIR]
# LIBTORCH: a LibTorch with CUDA (cxx11 ABI): the official distribution, or the
# torch/ folder of a PyTorch wheel (python3 -c 'import torch; print(torch.__path__[0])').
# COSAL_GPU_CHECK_LOGS: folder for the logs and bench.json (default: a new
# temporary folder).
# 1. builds, with -Dlibtorch=LIBTORCH -Dcuda=enabled (our pre/post kernels by
#    nvcc), only what it runs: the two test programs and cosal-bench;
# 2. runs the CUDA-only tests: the pre/post kernels against their CPU reference
#    (test_prepost), the engine on device=cuda in fp32 and fp16 against the CPU
#    (test_engine's EngineCuda);
# 3. runs the element benchmark on device=cuda at 854x480, 1280x720 and 1920x1080;
# 4. prints one summary.
# Without a GPU (no nvidia-smi, or no device) it says so and exits 0: skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
libtorch="${1:-${LIBTORCH:-}}"
builddir="${2:-build-gpu}"

skip() { echo "gpu-check: SKIPPED: $*"; exit 0; }
command -v nvidia-smi >/dev/null 2>&1 || skip "no nvidia-smi: no NVIDIA GPU on this machine"
gpus=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)
[ -n "$gpus" ] || skip "nvidia-smi lists no GPU"
[ -n "$libtorch" ] && [ -f "$libtorch/lib/libtorch_cuda.so" ] ||
  { echo "gpu-check: give the path of a CUDA LibTorch (has lib/libtorch_cuda.so)"; exit 2; }

summary=()
status=0
note() { summary+=("$1"); }
step() {  # step NAME COMMAND...
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then
    note "PASS  $name ($((SECONDS - t0)) s)"
  else
    note "FAIL  $name ($((SECONDS - t0)) s): see $out/$name.log"
    status=1
  fi
}
out=${COSAL_GPU_CHECK_LOGS:-$(mktemp -d -t cosal-gpu-check.XXXXXX)}
mkdir -p "$out"

# LibTorch 2.13 and later require C++20 of code that includes ATen.
std=c++17
grep -rqs "C++20 or later compatible compiler is required" "$libtorch/include/c10/macros" \
  "$libtorch/include/ATen/ATen.h" "$libtorch/include/torch/csrc/api/include/torch/all.h" && std=c++20
if [ ! -f "$builddir/build.ninja" ]; then
  step setup meson setup "$builddir" -Dlibtorch="$libtorch" -Dcuda=enabled -Dtests=enabled \
    -Dcpp_std="$std"
fi
# -k0: report every file that does not compile against this LibTorch at once.
# model/default.safetensors: the build tree's copy of the shipped model, beside
# the library, where the engine looks for its default.
step build meson compile -C "$builddir" --ninja-args=-k0,model/default.safetensors \
  tests/test_prepost tests/test_engine tools/cosal-bench
if [ "$status" -ne 0 ]; then
  printf '%s\n' "${summary[@]}"; tail -n 30 "$out"/*.log; exit 1
fi
export COSAL_SOURCE_DIR="$PWD" COSAL_BUILD_DIR="$PWD/$builddir"
step prepost-kernels "$builddir/tests/test_prepost"
step engine-cuda "$builddir/tests/test_engine" --gtest_filter='EngineCuda.*:Engine.DeviceStrings'
grep -q "SKIPPED.*EngineCuda" "$out/engine-cuda.log" && { note "FAIL  EngineCuda skipped: LibTorch sees no device"; status=1; }
step element-bench "$builddir/tools/cosal-bench" --device cuda --sizes 854x480,1280x720,1920x1080 \
  --windows 5,30 --json "$out/bench.json" --force

echo
echo "gpu-check summary ($(date -u +%F), $(echo "$gpus" | head -1))"
printf '  %s\n' "${summary[@]}"
if [ -f "$out/bench.json" ]; then
  python3 - "$out/bench.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
for r in d.get("element", {}).get("runs", []):
    size = "%sx%s" % (r.get("width"), r.get("height"))
    print("  element %-10s %-9s window %-3s %7.1f fps, latency median %.1f ms" % (
        size, r.get("mode"), r.get("window"), r.get("fps", 0), r.get("latency", {}).get("median_ms", 0)))
PY
fi
grep -h "^EngineCuda " "$out/engine-cuda.log" | sed 's/^/  /'
echo "  logs: $out"
exit "$status"
