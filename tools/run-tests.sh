#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (warnings are
# errors), runs the static checks and the whole GoogleTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
builddir="${BUILDDIR:-build}"

bash tools/install-deps.sh
start=$(date +%s)
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" -Dwerror=true -Dtests=enabled
fi
meson compile -C "$builddir"
built=$(date +%s)
echo "run-tests: build took $((built - start)) s"
meson test -C "$builddir" --print-errorlogs "$@"
echo "run-tests: tests took $(($(date +%s) - built)) s"
