#!/usr/bin/env bash
# The installed plugin links only the runtime library and finds its model
# under its own prefix: `meson install` into a temporary DESTDIR, the
# installed tree moved elsewhere (so neither the build nor the source tree
# nor the configured prefix is where it now lives), then gst-inspect and a
# pipeline with no COSAL_MODEL and no access to the build tree's plugin.
#   tests/install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
# meson test points LD_LIBRARY_PATH at the build tree: the installed plugin
# must find its library by its own rpath.
unset LD_LIBRARY_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/destdir" >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
[ -d "$tmp/destdir$prefix" ] || fail "nothing installed under $tmp/destdir$prefix"
mv "$tmp/destdir$prefix" "$tmp/moved"
plugin=$(find "$tmp/moved" -name 'libgstcosaliency.so' | head -1)
[ -n "$plugin" ] || fail "no plugin installed"
model=$(find "$tmp/moved" -name default.safetensors | head -1)
[ -n "$model" ] || fail "no default model installed"

# Only the runtime: no training code in what the plugin loads.
deps=$(ldd "$plugin")
echo "$deps" | grep -q "libcosal_model.so => $tmp/moved" ||
  fail "the plugin does not load the moved prefix's libcosal_model: $deps"
for lib in "$plugin" "$(dirname "$plugin")/../libcosal_model.so"; do
  if nm -DC "$lib" | grep -qiE 'tflite|import_mobilenet|Trainer|saliency_loss'; then
    fail "$(basename "$lib") carries training code"
  fi
  # No path of the machine that built it: not the source tree, not the build tree.
  if strings "$lib" | grep -qF -e "$source" -e "$build"; then
    fail "$(basename "$lib") names the source or build tree"
  fi
done

# The system's plugins (videotestsrc, ...) and the moved one; not the build tree's.
export GST_PLUGIN_PATH_1_0="$(dirname "$plugin")" GST_PLUGIN_PATH="$(dirname "$plugin")"
export GST_REGISTRY_1_0="$tmp/registry.bin"
unset COSAL_MODEL
inspect=$(gst-inspect-1.0 cosaliency) || fail "gst-inspect-1.0 cannot load the moved plugin"
loaded=$(echo "$inspect" | awk '$1 == "Filename" { print $2 }')
[ "$(realpath "$loaded")" = "$(realpath "$plugin")" ] ||
  fail "gst-inspect loaded '$loaded', not the moved plugin '$plugin'"
default=$(echo "$inspect" | grep -A3 '^  model ' | grep -o 'Default: "[^"]*"' | cut -d'"' -f2)
[ "$(realpath "$default")" = "$(realpath "$model")" ] ||
  fail "default model '$default', expected the moved prefix's '$model'"
gst-launch-1.0 -q videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! \
  cosaliency device=cpu output=mask ! fakesink >/dev/null ||
  fail "a pipeline with the installed default model failed"
echo "install_test: the moved install loads $default"
