#!/usr/bin/env bash
# Installs vigil's dependencies from Debian 12 packages and builds it in Release.
#   bash scripts/setup.sh            # deps + build into ./build
#   VIGIL_SKIP_APT=1 bash scripts/setup.sh   # build only (deps already installed)
#   VIGIL_BUILD_ALL=1 bash scripts/setup.sh  # also tests, benchmarks and ROS nodes (test.sh does)
# Extra CMake options can be passed through VIGIL_CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libopencv-dev libopencv-contrib-dev libeigen3-dev libopenblas-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libnanoflann-dev libzip-dev zlib1g-dev
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  chromium  # the report's browser test (headless)
  clang libclang-rt-14-dev  # the fuzz smoke run of the test command (libFuzzer)
)
# ROS 1 (optional component VIGIL_ENABLE_ROS; Debian packages it, no /opt/ros needed).
ROS_PACKAGES=(
  ros-core librosbag-dev libroscpp-dev libmessage-filters-dev libsensor-msgs-dev
  libnav-msgs-dev libgeometry-msgs-dev libvisualization-msgs-dev libstd-msgs-dev
  libtf2-msgs-dev iproute2
)

if [[ "${VIGIL_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}" ${VIGIL_WITH_ROS:+"${ROS_PACKAGES[@]}"}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# VIGIL_NATIVE (default ON) builds for this CPU: build where you run, or pass -DVIGIL_NATIVE=OFF.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${VIGIL_CMAKE_ARGS:-}
if [[ "${VIGIL_BUILD_ALL:-0}" == 1 ]]; then
  cmake --build build -j"$(nproc)"
else
  cmake --build build -j"$(nproc)" --target vigil_cli  # the main job needs only the CLI
fi
echo "setup: built build/apps/vigil/vigil"
