#!/usr/bin/env bash
# tsopt on the GPU (issue 12): runs benchmarks/gpu_benchmarks.py with the tsopt
# binary and runtime library of a build folder and writes docs/benchmarks-gpu.md:
# ResNet-18, ResNet-50, MobileNetV2 and BERT-base seq 128 at batch 1 and 8, fp32
# and fp16; eager, freeze + optimize_for_inference, torch.compile (default and
# reduce-overhead) and tsopt (with and without capture-cuda-graph), side by side,
# within a time budget (default 270 s; the report is rewritten after every case,
# so a run that is stopped still leaves one). Nothing is built here:
# build the tree first (scripts/build.sh, or cmake into --build-dir).
#
#   scripts/run_gpu_benchmarks.sh                                   on a GPU machine, build/ and .venv/
#   scripts/run_gpu_benchmarks.sh --python python3 --build-dir build-gpu
#   scripts/run_gpu_benchmarks.sh --device cpu --quick --out /tmp/gpu-smoke.md   smoke test without a GPU
#
# Options: --build-dir DIR (default build), --python PY (default .venv/bin/python3).
# Every other option goes to gpu_benchmarks.py (--help lists them), e.g. --quick,
# --models resnet18,bert_base_seq128, --variants eager,tsopt, --budget-seconds 400,
# --max-autotune, --tsopt-fp16-args '--passes=...', --tf32 on, --out FILE.
# Results (JSON, archives, tsopt outputs): BUILD_DIR/gpu-bench/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build_dir=build
python=.venv/bin/python3
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$2; shift ;;
    --python) python=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done

tsopt=$build_dir/ir_tools/tsopt
runtime=$build_dir/runtime/libtsopt_runtime.so
for file in "$tsopt" "$runtime"; do
  if [[ ! -e $file ]]; then
    echo "run_gpu_benchmarks.sh: $file is missing: build the tree into $build_dir first" >&2
    exit 1
  fi
done
work=$build_dir/gpu-bench
mkdir -p "$work"
command="scripts/run_gpu_benchmarks.sh${args[*]:+ ${args[*]}}"
[[ $build_dir == build ]] || command+=" --build-dir $build_dir"
[[ $python == .venv/bin/python3 ]] || command+=" --python $python"

exec "$python" -u benchmarks/gpu_benchmarks.py --tsopt "$tsopt" --runtime-lib "$runtime" \
  --work-dir "$work" --json "$work/results.json" --command "$command" "${args[@]}"
