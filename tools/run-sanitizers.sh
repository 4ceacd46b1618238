#!/usr/bin/env bash
# The element's and the stream processor's tests under ThreadSanitizer, then
# the weights loaders' mutation tests and the element's tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, with LeakSanitizer on
# (README "Sanitizers"; .ci/run runs both after the normal suite).
#
#   bash tools/run-sanitizers.sh [TEST ...]     (default: the lists below)
#   SANITIZERS="address thread" bash tools/run-sanitizers.sh   (default: address)
#
# With Debian's uninstrumented GLib and GStreamer, TSan cannot see their
# futex-based GMutex/GCond nor their atomic reference counts; the element's
# tests interpose those calls and tell TSan the ordering they guarantee
# (tests/tsan_glib_sync.cpp), and tools/sanitizers/tsan.supp names what
# GLib orders by calls to itself. Any other report fails the run.
#
# Builds only what those tests need in build-tsan and build-asan (Meson's
# b_sanitize, -O1 -g) so CI stays within its time budget. Leaks that belong
# to GLib, GStreamer or LibTorch themselves are suppressed in
# tools/sanitizers/lsan.supp (each entry says why); UBSan and ASan reports
# are never suppressed and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
suites="${SANITIZERS:-address}"
if [[ " $suites " == *" thread "* ]]; then
  # ThreadSanitizer: its own build (it cannot share a process with ASan).
  # The element's own shared state is guarded by std::mutex and atomics,
  # which TSan checks directly; what tools/sanitizers/tsan.supp suppresses
  # is inside GLib (each entry says why). OMP_NUM_THREADS=1: LibTorch's
  # OpenMP pool (uninstrumented libgomp) would otherwise report its own
  # barrier as races.
  tbuild="${TSAN_BUILDDIR:-build-tsan}"
  ttests=("$@")
  [ ${#ttests[@]} -eq 0 ] && ttests=(stream_processor element element_abuse)
  tstart=$(date +%s)
  if [ ! -f "$tbuild/build.ninja" ]; then
    meson setup "$tbuild" -Dtests=enabled -Db_sanitize=thread -Db_lundef=false \
      -Doptimization=1 -Ddebug=true
  fi
  ttargets=()
  for t in "${ttests[@]}"; do ttargets+=("tests/test_$t"); done
  meson compile -C "$tbuild" "${ttargets[@]}"
  tbuilt=$(date +%s)
  echo "run-sanitizers: thread: build took $((tbuilt - tstart)) s"
  TSAN_OPTIONS="suppressions=$PWD/tools/sanitizers/tsan.supp:halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0" \
    OMP_NUM_THREADS=1 G_SLICE=always-malloc GST_REGISTRY_FORK=no \
    meson test -C "$tbuild" --no-rebuild --print-errorlogs --timeout-multiplier 6 "${ttests[@]}"
  echo "run-sanitizers: thread: tests took $(($(date +%s) - tbuilt)) s"
fi
[[ " $suites " == *" address "* ]] || exit 0

builddir="${ASAN_BUILDDIR:-build-asan}"
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(safetensors weights_io tflite_import element element_abuse)
fi

start=$(date +%s)
if [ ! -f "$builddir/build.ninja" ]; then
  # b_lundef=false: the GStreamer plugin module leaves the ASan runtime's
  # symbols to the executable that loads it.
  meson setup "$builddir" -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Doptimization=1 -Ddebug=true
fi
targets=()
for t in "${tests[@]}"; do targets+=("tests/test_$t"); done
meson compile -C "$builddir" "${targets[@]}"
built=$(date +%s)
echo "run-sanitizers: build took $((built - start)) s"

supp="$PWD/tools/sanitizers"
# detect_leaks=1: LeakSanitizer at exit; suppressions (lsan.supp) only for
#   GLib's, GStreamer's and LibTorch's own leaks, each documented there.
# fast_unwind_on_malloc=0, malloc_context_size=8: GLib and LibTorch are built
#   without frame pointers, so the fast unwinder stops inside them and a leak
#   could not be attributed (ours or theirs); the slow one costs ~5x time.
# No other option is needed with Debian's LibTorch 1.13 (CPU): no shadow-gap
#   or alloc/dealloc-mismatch reports (protect_shadow_gap=0 is for CUDA's
#   driver, which this CPU build does not load).
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=8:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=1"
# Any UBSan report fails the test (the default would print and go on).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# GLib: plain malloc for slices, so every allocation is seen.
export G_SLICE=always-malloc G_DEBUG=gc-friendly GST_REGISTRY_FORK=no
meson test -C "$builddir" --no-rebuild --print-errorlogs --timeout-multiplier 4 "${tests[@]}"
echo "run-sanitizers: tests took $(($(date +%s) - built)) s"
