#!/usr/bin/env bash
# Installs exactly what the build, the tests and the demo need on Debian 12 /
# Ubuntu, and nothing when everything is already there (idempotent).
set -euo pipefail

packages=(
  # build
  g++ meson ninja-build pkg-config
  libtorch-dev
  libgloo-dev  # data-parallel training: the headers of LibTorch's ProcessGroupGloo
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  libstb-dev nlohmann-json3-dev libcairo2-dev
  # tests and static checks
  libgtest-dev cppcheck clang-format
  # the README's Python example (examples/appsink_masks.py) and its test
  python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  # the Slurm test's one-node cluster (tests/slurm)
  munge slurmctld slurmd slurm-client
  # run time: gst-launch, decoders and encoders used by the demo and pipelines/
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
  # the demo's default input (Megamind.avi) and the training data's photo stamps
  opencv-doc tuxpaint-stamps-default
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
