#!/usr/bin/env bash
# Installs the PyTorch 2.x line: creates the virtual environment .venv/ (or
# $TSOPT_VENV) with the python3 first on PATH and installs the pinned torch and
# torchvision of scripts/torch-pip-requirements.txt into it, never into the
# system's site-packages. Does nothing when the environment already holds
# exactly those pins. CMake's TSOPT_TORCH=pip line builds against the LibTorch
# inside that wheel, and its tests run that environment's python3.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${TSOPT_VENV:-.venv}
requirements=scripts/torch-pip-requirements.txt
stamp=$venv/.tsopt-torch-pip-requirements

if [[ -x $venv/bin/python3 && -f $stamp ]] && cmp -s "$stamp" "$requirements"; then
  echo "install_torch_pip.sh: $venv holds the pinned torch ($("$venv/bin/python3" -c 'import torch; print(torch.__version__)'))"
  exit 0
fi

python=$(command -v python3) || { echo "install_torch_pip.sh: no python3 on PATH" >&2; exit 1; }
echo "install_torch_pip.sh: creating $venv with $python ($("$python" --version 2>&1))"
"$python" -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --upgrade pip
"$venv/bin/python3" -m pip install --progress-bar off -r "$requirements"
"$venv/bin/python3" -c 'import torch, torchvision; print("install_torch_pip.sh: torch", torch.__version__, "torchvision", torchvision.__version__)'
cp "$requirements" "$stamp"
