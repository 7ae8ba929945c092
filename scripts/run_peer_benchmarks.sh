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
models=
quick=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=$2; shift ;;
    --models) models=$2; shift ;;
    --quick) quick=1; args+=("$1") ;;
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
command="scripts/run_peer_benchmarks.sh${args[*]:+ ${args[*]}}${models:+ --models $models}"

# One process per model: each model's compiled graphs, sessions and archives
# are freed with it (one process for all six ran out of 24 GiB).
if [[ -z $models ]]; then
  models=$(cd benchmarks && ../.venv/bin/python3 -c \
    "import sys, peer_common; print(','.join(peer_common.QUICK['models'] if sys.argv[1] == '1' else peer_common.FULL['models']))" $quick)
fi
peers=()
ipex=()
for model in ${models//,/ }; do
  echo "== compare_peers.py $model (torch $(.venv/bin/python3 -c 'import torch; print(torch.__version__)'))"
  .venv/bin/python3 benchmarks/compare_peers.py --tsopt "$TSOPT_BUILD_DIR/ir_tools/tsopt" \
    --runtime-lib "$TSOPT_BUILD_DIR/runtime/libtsopt_runtime.so" --work-dir "$results/work" \
    --models "$model" --json "$results/peers-$model.json" "${args[@]}"
  peers+=("$results/peers-$model.json")
done
if [[ -x .venv-ipex/bin/python3 ]]; then
  for model in ${models//,/ }; do
    echo "== compare_ipex.py $model (its own torch)"
    .venv-ipex/bin/python3 benchmarks/compare_ipex.py --models "$model" --json "$results/ipex-$model.json" "${args[@]}"
    ipex+=("$results/ipex-$model.json")
  done
fi
echo "== report ($out)"
.venv/bin/python3 benchmarks/make_peer_report.py --peers "${peers[@]}" ${ipex[@]:+--ipex "${ipex[@]}"} \
  --out "$out" --chart "$(dirname "$out")/images/benchmarks.png" --command "$command"
