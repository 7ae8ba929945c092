#!/usr/bin/env bash
# Builds the benchmark binary and tsopt, generates the model zoo, optimizes it
# with every tsopt level, runs the Google Benchmark binary (JSON) and the Python
# eager comparison on Debian's LibTorch 1.13, and writes docs/benchmarks-1.13.md
# and docs/images/benchmarks-1.13.png. (The 2.x line against today's peers:
# scripts/run_peer_benchmarks.sh, docs/benchmarks.md.)
#
#   scripts/run_benchmarks.sh            full run: 5 models, batch 1 and 8, threads 1 and 2 (~20 min)
#   scripts/run_benchmarks.sh --quick    smoke test: resnet18 and BERT seq14, batch 1 (~4 min)
#   scripts/run_benchmarks.sh --sweep    also rerun benchmarks/eager_config_sweep.py (+~10 min)
#
# Options: --build-dir DIR (default build-bench), --zoo DIR (default
# BUILD_DIR/zoo), --out FILE (default docs/benchmarks-1.13.md; the chart goes to
# images/benchmarks-1.13.png beside it), --runtime-lib PATH (the tsopt:: operators
# for compare_eager.py; default: the one built in BUILD_DIR).
#
# Every baseline runs under one eager configuration, chosen with
# benchmarks/eager_config_sweep.py (its result: benchmarks/eager_config_sweep.json)
# and stated in the report: OpenBLAS's SkylakeX kernels (0.3.21 falls back to
# Haswell's on Zen 5), OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads make
# 2 threads 10-40x slower while others use the machine), two torch threads,
# which OpenBLAS's OpenMP build shares. It is exported here, overriding the
# environment, so that every run is comparable.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

mode=full
sweep=0
build_dir=build-bench
zoo=
out=
runtime_lib=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) mode=quick ;;
    --sweep) sweep=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --zoo) zoo=$(realpath -m "$2"); shift ;;
    --out) out=$(realpath -m "$2"); shift ;;
    --runtime-lib) runtime_lib=$(realpath -m "$2"); shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "run_benchmarks.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

cd "$root"
out=${out:-$root/docs/benchmarks-1.13.md}
PYTHON=/usr/bin/python3
# SkylakeX's kernels are AVX-512: on a CPU without it they die of SIGILL, and
# OpenBLAS's own choice (Haswell's kernels on AVX2) is its best there.
if grep -qw avx512f /proc/cpuinfo; then
  export OPENBLAS_CORETYPE=SkylakeX
else
  unset OPENBLAS_CORETYPE
fi
export OMP_WAIT_POLICY=PASSIVE
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS
torch_threads=2

if [[ $mode == quick ]]; then
  models=resnet18,bert_base_seq14
  batches=1
  threads=2
  repetitions=3
  min_time=0.2
  rounds=3
else
  models=resnet18,resnet50,mobilenet_v2,bert_base_seq14,bert_base_seq128
  batches=1,8
  threads=1,2
  repetitions=5
  min_time=0.3
  rounds=7
fi

blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
if [[ $blas != *openblas* ]]; then
  echo "run_benchmarks.sh: libblas.so.3 is $blas, not OpenBLAS: eager would run on the reference BLAS." >&2
  echo "  Run scripts/install_deps.sh (it installs OpenBLAS and selects it)." >&2
  exit 1
fi

echo "== build ($build_dir)"
cmake -S . -B "$build_dir" -G Ninja -DTSOPT_TORCH=debian -DTSOPT_BUILD_TESTS=OFF -DTSOPT_BUILD_BENCHMARKS=ON >/dev/null
ninja -C "$build_dir" tsopt bench_models tsopt_runtime
runtime_lib=${runtime_lib:-$root/$build_dir/runtime/libtsopt_runtime.so}

zoo=${zoo:-$root/$build_dir/zoo}
results=$root/$build_dir/benchmark-results
rm -rf "$results"
mkdir -p "$results"
echo "== zoo ($zoo)"
for batch in ${batches//,/ }; do
  "$PYTHON" examples/models/make_zoo.py "$zoo" --models "$models" --batch "$batch"
done

echo "== tsopt levels"
stems=()
for model in ${models//,/ }; do
  for batch in ${batches//,/ }; do
    stems+=("$model$([[ $batch == 1 ]] || echo "_batch$batch")")
  done
done
previous_pipeline=
for level in 1 2 3; do
  pipeline=$("$build_dir/ir_tools/tsopt" "$zoo/${stems[0]}.pt" -O$level --dump-pass-pipeline -o /dev/null 2>&1 | tail -1)
  echo "$pipeline" > "$results/pipeline-O$level.txt"
  for stem in "${stems[@]}"; do
    rm -f "$zoo/$stem.o$level.pt"
    if [[ $pipeline != "$previous_pipeline" ]]; then
      "$build_dir/ir_tools/tsopt" "$zoo/$stem.pt" -O$level -o "$zoo/$stem.o$level.pt"
      echo "tsopt -O$level $stem"
    fi
  done
  previous_pipeline=$pipeline
done

if [[ $sweep == 1 ]]; then
  echo "== eager configuration sweep"
  (cd benchmarks && "$PYTHON" eager_config_sweep.py --zoo "$zoo" --models "$models" --json "$results/sweep.json")
  cp "$results/sweep.json" benchmarks/eager_config_sweep.json
fi

echo "== Google Benchmark"
gbench_files=()
for model in ${models//,/ }; do
  for batch in ${batches//,/ }; do
    json=$results/gbench_${model}_b$batch.json
    "$build_dir/benchmarks/bench_models" --zoo="$zoo" --models="$model" --batches="$batch" --threads="$threads" \
      --benchmark_repetitions=$repetitions --benchmark_enable_random_interleaving=true \
      --benchmark_min_time=$min_time --benchmark_out="$json" --benchmark_out_format=json \
      --benchmark_display_aggregates_only=true
    gbench_files+=("$json")
  done
done

echo "== Python eager comparison"
(cd benchmarks && "$PYTHON" compare_eager.py --zoo "$zoo" --models "$models" --batches "$batches" \
  --threads $torch_threads --rounds $rounds --runtime-lib "$runtime_lib" \
  --json "$results/compare.json")

echo "== report"
(cd benchmarks && "$PYTHON" make_report.py --compare "$results/compare.json" --gbench "${gbench_files[@]}" \
  --sweep "$root/benchmarks/eager_config_sweep.json" --mode $mode --command "scripts/run_benchmarks.sh$([[ $mode == quick ]] && echo " --quick")" \
  --out "$out" --chart "$(dirname "$out")/images/benchmarks-1.13.png")
