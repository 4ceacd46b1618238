#!/usr/bin/env bash
# Runs examples/appsink_masks.py as a user would (Debian's python3 with
# PyGObject), against the built plugin and the build tree's default model:
# one line per frame, each with a foreground share in [0, 1].
#   tests/python_example_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
py=/usr/bin/python3
if ! "$py" -c 'import gi; gi.require_version("GstVideo", "1.0")' 2>/dev/null; then
  echo "python_example_test: FAIL: $py has no PyGObject (bash tools/install-deps.sh)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GST_PLUGIN_PATH="$build/gst-plugin" GST_REGISTRY_1_0="$tmp/registry.bin"
unset COSAL_MODEL
"$py" "$source/examples/appsink_masks.py" --test-pattern --frames 6 >"$tmp/out.txt"
cat "$tmp/out.txt"
[ "$(grep -c '^frame ' "$tmp/out.txt")" -eq 6 ] || { echo "expected 6 frame lines" >&2; exit 1; }
awk '{ split($4, a, "="); if (a[2] < 0 || a[2] > 1) bad = 1 } END { exit bad }' "$tmp/out.txt" ||
  { echo "a foreground share outside [0, 1]" >&2; exit 1; }
# A bad model is an error with a message and a non-zero exit, not a hang.
if "$py" "$source/examples/appsink_masks.py" --test-pattern --frames 2 \
  --model "$tmp/missing.safetensors" 2>"$tmp/err.txt"; then
  echo "a missing model did not fail" >&2; exit 1
fi
grep -q "missing.safetensors" "$tmp/err.txt" || { cat "$tmp/err.txt" >&2; exit 1; }
