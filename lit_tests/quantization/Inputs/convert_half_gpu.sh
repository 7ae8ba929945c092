#!/usr/bin/env bash
# Half-precision GPU inference end to end, on ResNet-18 and a 2-layer BERT
# (half_models.py), for lit (convert-half-cuda.test, REQUIRES: cuda) and for
# machines without lit (scripts/gpu_check.sh):
#   convert_half_gpu.sh TSOPT RUNTIME_LIBRARY PYTHON OUTDIR
# For each model and each of fp32 (-O2), fp16 and bf16
# (O1,convert-half{dtype=...},O2), all with --device=cuda:
#   - the fusion statistics (which tsopt:: ops, how many) equal those of -O2
#     on the CPU in float32: fusion is the same on both devices;
#   - the convolution chains of the convnet stay NCHW in float32 on the GPU
#     and go channels-last in half precision (propagate-layout);
#   - compare_half.py: outputs within the dtype's tolerance of the float32 CPU
#     original (fp32 on the GPU is held to fp16's: cuDNN may use TF32).
# Prints one line per check and "convert-half-gpu: ok" when all pass; exits 1
# at the first failure.
set -euo pipefail
tsopt=$1 runtime=$2 python=$3 out=$4
inputs=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH=$inputs/../../../examples/models${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out"
"$python" "$inputs/half_models.py" "$out"
fusion_stats() {  # the rewrite counts of the fusion passes, from --stats output
  { grep -E '^ *[0-9]+ fuse-[a-z-]+ - .*(rewritten|Attention blocks)' "$1" || true; } | sed 's/^ *//' | sort -k2
}
for model in convnet bert; do
  # The reference: -O2 on the CPU. Where the CPU kernels cannot pack (no
  # oneDNN on a GPU machine), float32 on the GPU is the reference instead;
  # lit's CHECK lines pin the CPU's counts either way.
  reference="the cpu"
  if ! "$tsopt" "$out/$model.pt" -O2 --stats -o "$out/$model.cpu.pt" 2>"$out/$model.cpu.stats"; then
    echo "$model: no cpu reference ($(grep -m1 error "$out/$model.cpu.stats")); fp32 on cuda is the reference"
    reference="fp32 on cuda"
  fi
  fusion_stats "$out/$model.cpu.stats" >"$out/$model.cpu.fusion"
  for dtype in fp32 fp16 bf16; do
    if [[ $dtype == fp32 ]]; then pipeline=O2 tolerance=fp16; else pipeline="O1,convert-half{dtype=$dtype},O2" tolerance=$dtype; fi
    "$tsopt" "$out/$model.pt" --device=cuda "--passes=$pipeline" --verify-each --stats -o "$out/$model.$dtype.pt" \
      2>"$out/$model.$dtype.stats"
    fusion_stats "$out/$model.$dtype.stats" >"$out/$model.$dtype.fusion"
    if [[ $reference != "the cpu" && $dtype == fp32 ]]; then
      cp "$out/$model.fp32.fusion" "$out/$model.cpu.fusion"
    fi
    if ! diff -u "$out/$model.cpu.fusion" "$out/$model.$dtype.fusion"; then
      echo "convert-half-gpu: $model $dtype on cuda fuses differently from -O2 on $reference (above)"
      exit 1
    fi
    echo "$model.$dtype: fusion as on $reference: $(paste -sd ';' "$out/$model.$dtype.fusion")"
    if [[ $model == convnet ]]; then
      to_nhwc=$({ grep -E '^ *[0-9]+ propagate-layout - Conversions to channels-last' "$out/$model.$dtype.stats" ||
                  echo 0; } | awk '{print $1}')
      if [[ ($dtype == fp32 && $to_nhwc != 0) || ($dtype != fp32 && $to_nhwc == 0) ]]; then
        echo "convert-half-gpu: $model $dtype on cuda: $to_nhwc conversions to channels-last (float32: none; half: some)"
        exit 1
      fi
      echo "$model.$dtype: $to_nhwc conversions to channels-last"
    fi
    "$python" "$inputs/compare_half.py" "$runtime" "$out" "$model" "$dtype" "$tolerance" cuda
  done
done
echo "convert-half-gpu: ok"
