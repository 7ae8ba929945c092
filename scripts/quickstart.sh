#!/usr/bin/env bash
# The quick start: installs the Debian packages, builds tsopt, writes a small demo
# model, optimizes it at -O1 with statistics and timings, and checks that the
# optimized archive loads in Python and computes what the original computes.
set -euo pipefail
cd "$(dirname "$0")/.."
python=/usr/bin/python3  # Debian's Python, which python3-torch installs torch for
tsopt=${TSOPT_BUILD_DIR:-build}/ir_tools/tsopt

scripts/install_deps.sh
scripts/build.sh

echo
echo "== Writing the demo model"
"$python" examples/models/make_demo_model.py demo.pt

echo
echo "== $tsopt demo.pt -O1 --stats --time-passes -o demo.opt.pt"
"$tsopt" demo.pt -O1 --stats --time-passes -o demo.opt.pt

echo
echo "== Checking demo.opt.pt against demo.pt"
"$python" examples/models/make_demo_model.py --compare demo.pt demo.opt.pt
