#!/usr/bin/env bash
# The quick start: installs the dependencies of a LibTorch line (PyTorch 2.x in
# .venv/ by default; TSOPT_TORCH=debian for Debian's LibTorch 1.13), builds
# tsopt, writes a small demo model, optimizes it at -O1 with statistics and
# timings, and checks that the optimized archive loads in Python and computes
# what the original computes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_line.sh

scripts/install_deps.sh
scripts/build.sh
# The interpreter whose torch is the LibTorch just built against (CMake chose it).
python=$(sed -n 's/^TSOPT_PYTHON:FILEPATH=//p' "$TSOPT_BUILD_DIR/CMakeCache.txt")
tsopt=$TSOPT_BUILD_DIR/ir_tools/tsopt

echo
echo "== Writing the demo model ($python)"
"$python" examples/models/make_demo_model.py demo.pt

echo
echo "== $tsopt demo.pt -O1 --stats --time-passes -o demo.opt.pt"
"$tsopt" demo.pt -O1 --stats --time-passes -o demo.opt.pt

echo
echo "== Checking demo.opt.pt against demo.pt"
"$python" examples/models/make_demo_model.py --compare demo.pt demo.opt.pt
