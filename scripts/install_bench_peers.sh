#!/usr/bin/env bash
# Installs the peers of the peer comparison (issue 10, part 2):
#
#   scripts/install_bench_peers.sh            both environments
#   scripts/install_bench_peers.sh --no-ipex  only the peers in .venv
#
# 1. benchmarks/requirements-peers.txt (ONNX Runtime, ONNX, onnxscript,
#    transformers, matplotlib) into .venv (or $TSOPT_VENV), which
#    scripts/install_torch_pip.sh creates first if it is missing, with
#    scripts/torch-pip-requirements.txt as a constraint: torch keeps its pin.
#    Used by benchmarks/compare_peers.py and benchmarks/make_peer_report.py.
# 2. benchmarks/requirements-ipex.txt (Intel Extension for PyTorch with the
#    torch 2.8 it needs) into its own environment .venv-ipex (or
#    $TSOPT_IPEX_VENV), then a smoke test: a convolution and a linear layer
#    through ipex.optimize + trace + freeze on this CPU. Used by
#    benchmarks/compare_ipex.py. A failure here is reported, with the reason,
#    and does not fail the script: the IPEX column is then absent.
#
# Each environment is skipped when its stamp file says it already holds
# exactly the pinned files; a failed step leaves no stamp, so it is retried.
set -euo pipefail
cd "$(dirname "$0")/.."

ipex=1
case "${1:-}" in
  --no-ipex) ipex=0 ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "install_bench_peers.sh: unknown option $1" >&2; exit 2 ;;
esac

say() { echo "install_bench_peers.sh: $*"; }

venv=${TSOPT_VENV:-.venv}
torch_pins=scripts/torch-pip-requirements.txt
peers=benchmarks/requirements-peers.txt
peers_stamp=$venv/.tsopt-bench-peers

[[ -x $venv/bin/python3 ]] || TSOPT_VENV=$venv scripts/install_torch_pip.sh
if [[ -f $peers_stamp ]] && cmp -s "$peers_stamp" <(cat "$torch_pins" "$peers"); then
  say "$venv holds the pinned peers"
else
  "$venv/bin/python3" -m pip install --progress-bar off -c "$torch_pins" -r "$peers"
  # The constraint makes pip fail rather than move torch; this checks it did not.
  "$venv/bin/python3" - "$torch_pins" <<'EOF'
import importlib.metadata, sys
pins = dict(line.split("==") for line in open(sys.argv[1]).read().split() if "==" in line)
moved = {name: (pin, importlib.metadata.version(name)) for name, pin in pins.items()
         if importlib.metadata.version(name).split("+")[0] != pin}
sys.exit("install_bench_peers.sh: %s moved: %s" % (sys.argv[1], moved) if moved else 0)
EOF
  "$venv/bin/python3" -c 'import importlib
names = ("torch", "onnxruntime", "onnx", "onnxscript", "transformers", "matplotlib")
print("install_bench_peers.sh:", ", ".join("%s %s" % (n, importlib.import_module(n).__version__) for n in names))'
  cat "$torch_pins" "$peers" > "$peers_stamp"
fi

[[ $ipex == 1 ]] || exit 0

ipex_venv=${TSOPT_IPEX_VENV:-.venv-ipex}
ipex_pins=benchmarks/requirements-ipex.txt
ipex_stamp=$ipex_venv/.tsopt-bench-ipex
if [[ -f $ipex_stamp ]] && cmp -s "$ipex_stamp" "$ipex_pins"; then
  say "$ipex_venv holds the pinned IPEX environment"
  exit 0
fi

python=$(command -v python3) || { say "IPEX unusable: no python3 on PATH"; exit 0; }
[[ -x $ipex_venv/bin/python3 ]] || "$python" -m venv "$ipex_venv"
"$ipex_venv/bin/python3" -m pip install --quiet --upgrade pip
if ! "$ipex_venv/bin/python3" -m pip install --progress-bar off -r "$ipex_pins"; then
  say "IPEX unusable: pip could not install $ipex_pins into $ipex_venv (see pip's error above)"
  exit 0
fi
# Smoke test on this CPU: import, the ISA IPEX detects, and the inference
# recipe compare_ipex.py times, on a tiny model, checked against eager.
if ! "$ipex_venv/bin/python3" - <<'EOF'
import torch
import intel_extension_for_pytorch as ipex
vendor = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("vendor_id")), "?")
isa = ipex._C._get_current_isa_level() if hasattr(ipex._C, "_get_current_isa_level") else "?"
print("install_bench_peers.sh: torch %s, IPEX %s, CPU vendor %s, IPEX ISA level %s" % (
    torch.__version__, ipex.__version__, vendor, isa))
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(16 * 30 * 30, 10)).eval()
x = torch.randn(2, 3, 32, 32)
with torch.no_grad():
    expected = model(x)
    optimized = torch.jit.freeze(torch.jit.trace(ipex.optimize(model), x))
    for _ in range(3):
        actual = optimized(x)
torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)
print("install_bench_peers.sh: ipex.optimize + trace + freeze runs on this CPU and matches eager")
EOF
then
  say "IPEX unusable: the smoke test above failed on this CPU (its error is printed above)"
  exit 0
fi
cp "$ipex_pins" "$ipex_stamp"
