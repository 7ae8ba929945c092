#!/usr/bin/env bash
# Writes the fuzz targets' seed corpora (docs/robustness.md), nothing of which
# is committed: every part comes from the tree or a few seconds of Python.
#   fuzz/make_corpus.sh OUT [TSOPT]
# OUT/ir         one file per case of every lit_tests .ir file (fuzz_ir_o1/o2, fuzz_tsdump)
# OUT/pipeline   every --passes= of the lit tests, and every registered name
#                (fuzz_pipeline: a leading byte chooses module or bare IR)
# OUT/archive    the lit tests' small scripted models, and a traced one whose
#                identical classes the loader merges (fuzz_archive)
# OUT/inputs     input tuples saved with torch.save (fuzz_input_sets)
# OUT/pipeline.dict  the registered pass names, as a libFuzzer dictionary
# TSOPT (a tsopt binary, default build/ir_tools/tsopt) lists the passes;
# PYTHON (default .venv/bin/python3) writes the archives and inputs files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: fuzz/make_corpus.sh OUT [TSOPT]}
tsopt=${2:-build/ir_tools/tsopt}
python=${PYTHON:-.venv/bin/python3}
rm -rf "$out"
mkdir -p "$out"/{ir,pipeline,archive,inputs}

# IR: each '# -----' case of each lit test alone, without its comment lines.
find lit_tests -name '*.ir' | sort | while read -r file; do
  awk -v out="$out/ir/$(basename "$file" .ir)" '
    /^# -----/ { ++n; next }
    /^[ \t]*#/ || /^[ \t]*$/ { next }
    { print > (out "-" n+0 ".ir") }' "$file"
done

# Pipelines: the byte before the text is 1 (a module) or 0 (bare IR).
n=0
grep -rhoE -- "--passes=('[^']*'|[^ ]+)" lit_tests | sed -e "s/^--passes=//" -e "s/^'//" -e "s/'$//" | sort -u |
  while read -r pipeline; do
    n=$((n + 1))
    printf '\001%s' "$pipeline" > "$out/pipeline/lit-$n"
    printf '\000%s' "$pipeline" > "$out/pipeline/lit-bare-$n"
  done
"$tsopt" --list-passes | awk '/^  [a-zO][a-zA-Z0-9-]*/ { print $1 }' | sort -u | while read -r name; do
  printf '\001%s' "$name" > "$out/pipeline/pass-$name"
  printf '"%s"\n' "$name"
done > "$out/pipeline.dict"
printf '"{"\n"}"\n"="\n","\n"true"\n"false"\n' >> "$out/pipeline.dict"

# Archives and inputs files: small, from a fixed seed.
PYTHONWARNINGS=ignore PYTHONPATH=examples/models "$python" lit_tests/Inputs/make_models.py \
  conv_bn "$out/archive/conv_bn.pt" conv_bn_dropout "$out/archive/conv_bn_dropout.pt" \
  attributes "$out/archive/attributes.pt" calls "$out/archive/calls.pt" no_attributes "$out/archive/no_attributes.pt" \
  traced_blocks "$out/archive/traced_blocks.pt"
PYTHONWARNINGS=ignore "$python" - "$out/inputs" <<'PY'
import sys
import torch
out = sys.argv[1]
torch.manual_seed(0)
x = torch.randn(1, 3, 4, 4)
torch.save((x,), f"{out}/one_tuple.pt")
torch.save([(x,), (x + 1,)], f"{out}/two_calls.pt")
torch.save(((x, torch.tensor([1, 2])),), f"{out}/mixed.pt")
torch.save((torch.randint(0, 5, (2, 3)), 3, 2.5, True, "s", None), f"{out}/scalars.pt")
torch.save([{"a": x}], f"{out}/dict.pt")
PY
echo "make_corpus.sh: $(find "$out" -type f | wc -l) seeds in $out"
