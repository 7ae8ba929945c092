#!/usr/bin/env bash
# tsopt against today's peers, on the PyTorch 2.x line: builds tsopt into build/
# (or $TSOPT_BUILD_DIR), installs the peers (scripts/install_bench_peers.sh:
# benchmarks/requirements-peers.txt into .venv/, IPEX with its own torch 2.8 into
# .venv-ipex/), runs benchmarks/compare_peers.py and then benchmarks/compare_ipex.py
# (one after the other, never side by side), and writes docs/benchmarks.md and
# docs/images/benchmarks.png.
#
#   scripts/run_peer_benchmarks.sh            6 models, batch 1 and 8, threads 1 and 2
#   scripts/run_peer_benchmarks.sh --quick    ResNet-50 and BERT seq 14, batch 1, 1 thread
#
# Other options go to both comparison scripts (e.g. --rounds 5 --seconds-per-round 0.3,
# --models resnet50,vit_b_16). --out FILE writes the report elsewhere (the chart
# goes to images/benchmarks.png beside it). Results: BUILD_DIR/peer-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export TSOPT_TORCH=pip
source scripts/torch_line.sh

out=docs/benchmarks.md
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

echo "== build ($TSOPT_BUILD_DIR)"
scripts/install_torch_pip.sh
scripts/build.sh >/dev/null
scripts/install_bench_peers.sh
results=$TSOPT_BUILD_DIR/peer-results
mkdir -p "$results"
command="scripts/run_peer_benchmarks.sh${args[*]:+ ${args[*]}}"

echo "== compare_peers.py (torch $(.venv/bin/python3 -c 'import torch; print(torch.__version__)'))"
.venv/bin/python3 benchmarks/compare_peers.py --tsopt "$TSOPT_BUILD_DIR/ir_tools/tsopt" \
  --runtime-lib "$TSOPT_BUILD_DIR/runtime/libtsopt_runtime.so" --work-dir "$results/work" \
  --json "$results/peers.json" "${args[@]}"
ipex=()
if [[ -x .venv-ipex/bin/python3 ]]; then
  echo "== compare_ipex.py (its own torch)"
  .venv-ipex/bin/python3 benchmarks/compare_ipex.py --json "$results/ipex.json" "${args[@]}"
  ipex=(--ipex "$results/ipex.json")
fi
echo "== report ($out)"
.venv/bin/python3 benchmarks/make_peer_report.py --peers "$results/peers.json" "${ipex[@]}" \
  --out "$out" --chart "$(dirname "$out")/images/benchmarks.png" --command "$command"
