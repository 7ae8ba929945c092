#!/usr/bin/env bash
# Configures (once) and builds tsopt with Ninja for one LibTorch line:
#   scripts/build.sh                      PyTorch 2.x (.venv/), into build/
#   TSOPT_TORCH=debian scripts/build.sh   Debian's LibTorch 1.13, into build-debian/
# ($TSOPT_BUILD_DIR overrides the folder.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_line.sh
if [[ ! -f "$TSOPT_BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$TSOPT_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTSOPT_TORCH="$TSOPT_TORCH"
fi
cmake --build "$TSOPT_BUILD_DIR"
