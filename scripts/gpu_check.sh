#!/usr/bin/env bash
# The GPU verification of docs/cuda.md in one command, for a machine with an
# NVIDIA GPU whose `python3` has a CUDA build of PyTorch 2.x, and no network:
#   1. builds tsopt against that torch (TSOPT_CUDA on) into build-gpu/;
#   2. runs the GPU unit tests (the CUDA kernels against ATen, per dtype);
#   3. optimizes zoo models with --device=cuda, fp32 (-O2) and fp16, each with
#      --check-equivalence on the GPU; runs capture-cuda-graph end to end;
#   4. runs the GPU benchmarks (scripts/run_gpu_benchmarks.sh), which write
#      docs/benchmarks-gpu.md.
# Every step logs to OUT (default gpu-check/); a failing step is reported and
# the next one still runs; the exit status is the number of failed steps.
#
#   scripts/gpu_check.sh [--deps TARBALL] [--out DIR] [--bench-args "ARGS"] [--skip-bench]
#
# --deps: a tarball with what the build needs and a bare machine may lack,
# unpacked first: deps/include (libdnnl-dev 2.6's headers) and deps/lib
# (libdnnl.so.2). Without it libdnnl-dev must be installed. GoogleTest must be.
set -uo pipefail
cd "$(dirname "$0")/.."
deps= out=gpu-check bench_args= skip_bench=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --deps) deps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bench-args) bench_args=$2; shift 2 ;;
    --skip-bench) skip_bench=1; shift ;;
    *) echo "gpu_check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
python=$(command -v python3)
export PYTHONFAULTHANDLER=1  # a crash in Python prints where
failed=0
step() {  # step NAME COMMAND...: runs COMMAND, logging to $out/NAME.log
  local name=$1; shift
  local start=$SECONDS
  echo "== $name: $*"
  if "$@" >"$out/$name.log" 2>&1; then
    echo "== $name: ok ($((SECONDS - start)) s)"
  else
    echo "== $name: FAILED ($((SECONDS - start)) s); last lines of $out/$name.log:"
    tail -n 40 "$out/$name.log"
    failed=$((failed + 1))
  fi
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
  torch.backends.cudnn.version(), "gpu", torch.cuda.is_available())'

cmake_args=()
if [[ -n $deps ]]; then
  root=$(mktemp -d)
  tar -xJf "$deps" -C "$root"
  # The runtime compiles against these headers and opens libdnnl.so.2 when it
  # is loaded. Not put on LD_LIBRARY_PATH: a Debian library in another
  # distribution's process (with that torch's own oneDNN and OpenMP) crashed the
  # CPU kernels' tests; without it the CPU kernels report oneDNN missing, and
  # nothing on the GPU needs them. The oneDNN step below shows which.
  cmake_args+=(-DTSOPT_DNNL_INCLUDE_DIR=$root/deps/include -DTSOPT_DNNL_LIBRARY=$root/deps/lib/libdnnl.so)
fi

build=build-gpu
configure() {
  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTSOPT_TORCH=pip -DTSOPT_PYTHON="$python" \
    -DTSOPT_CUDA=ON -DTSOPT_BUILD_BENCHMARKS=OFF -DTSOPT_BUILD_LIT_TESTS=OFF -DTSOPT_JEMALLOC=OFF "${cmake_args[@]}"
}
step configure configure
step build cmake --build $build --target tsopt tsopt_runtime tsopt_runtime_cuda tsopt_unittests -j "$(nproc)"
step unittests-cuda $build/unittests/tsopt_unittests --gtest_filter='Cuda*'
if [[ -n $deps ]]; then
  step onednn-carried env LD_LIBRARY_PATH=$root/deps/lib $build/unittests/tsopt_unittests --gtest_filter='AttentionTest.*'
fi
step zoo "$python" examples/models/make_zoo.py $build/zoo --models resnet18,bert_base_seq14

# The optimized module on the GPU against the original on the GPU, by cosine
# similarity: fp32 (folded weights round differently; the kernels' own float32
# accuracy is the unit tests' 1e-4) and fp16 (against the float32 original).
fp16_pipeline='O1,convert-half{dtype=fp16},O2'
for model in resnet18 bert_base_seq14; do
  step equivalence-$model-fp32 $build/ir_tools/tsopt $build/zoo/$model.pt -O2 --device=cuda --min-cosine=0.99999 \
    -o "$out/$model-fp32.pt"
  step equivalence-$model-fp16 $build/ir_tools/tsopt $build/zoo/$model.pt "--passes=$fp16_pipeline" --device=cuda \
    --min-cosine=0.999 -o "$out/$model-fp16.pt"
done
# Fusion on the GPU as on the CPU, and half precision within its tolerances
# (what lit's quantization/convert-half-cuda.test checks where lit runs).
step convert-half-gpu lit_tests/quantization/Inputs/convert_half_gpu.sh $build/ir_tools/tsopt \
  $build/runtime/libtsopt_runtime.so "$python" "$out/convert-half-gpu"
# A captured module in stock PyTorch (what lit's fusion/capture-cuda-graph-cuda.test checks).
step capture-cuda-graph env PYTHONPATH=examples/models "$python" lit_tests/fusion/Inputs/capture_cuda_graph_gpu.py \
  $build/runtime/libtsopt_runtime.so $build/ir_tools/tsopt "$out/capture-cuda-graph"
# A CUDA-packed archive loads in Python through the runtime library alone.
step python-load "$python" - "$build/runtime/libtsopt_runtime.so" "$out/resnet18-fp32.pt" <<'EOF'
import sys, torch
torch.ops.load_library(sys.argv[1])
module = torch.jit.load(sys.argv[2], map_location="cuda")
out = module(torch.randn(2, 3, 224, 224, device="cuda"))
print("python-load: output", tuple(out.shape), out.device, out.dtype)
EOF
rm -rf "$out"/*.pt "$out/convert-half-gpu" "$out/capture-cuda-graph"

if [[ $skip_bench == 0 ]]; then
  # shellcheck disable=SC2086
  step benchmarks scripts/run_gpu_benchmarks.sh --python "$python" --build-dir $build $bench_args
  cp docs/benchmarks-gpu.md "$out/" 2>/dev/null || true
fi
echo "gpu_check.sh: $failed step(s) failed; logs in $out"
exit $failed
