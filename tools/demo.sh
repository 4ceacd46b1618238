#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs a real
# video through the cosaliency element on the bundled default model.
#   bash tools/demo.sh [VIDEO_FILE_OR_URI] [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
input="${1:-/usr/share/doc/opencv-doc/examples/data/Megamind.avi}"
out="${2:-$PWD/cosal-demo-out}"
builddir="${BUILDDIR:-$root/build}"

bash "$root/tools/install-deps.sh"
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "$root"
fi
meson compile -C "$builddir"
# The uninstalled plugin and the bundled model, found without installing.
export GST_PLUGIN_PATH="$builddir/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec "$builddir/tools/cosal-demo" --input "$input" --out "$out" --force
