#!/usr/bin/env bash
# Installs the Debian 12 packages tsopt needs to build and test: the one list,
# used by scripts/quickstart.sh and .ci/run. Does nothing when all are installed;
# otherwise needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build git       # toolchain
  libtorch-dev python3-torch                  # LibTorch 1.13 (C++) and torch for /usr/bin/python3
  libdnnl-dev                                 # LibTorch's CMake package looks for oneDNN
  libopenblas0-openmp                         # a BLAS for LibTorch (--no-install-recommends pulls in none)
  python3-torchvision                         # the model zoo (examples/models)
  llvm-14-tools                               # lit and FileCheck
  libgtest-dev libgmock-dev libbenchmark-dev  # unit tests and benchmarks
  graphviz                                    # dot, to render the driver's graph dumps
  python3-matplotlib                          # the chart of docs/benchmarks.md
)

# LibTorch calls the system libblas.so.3. Point it at OpenBLAS: the alternative
# may be the reference BLAS, which makes every fp32 linear layer many times slower.
OPENBLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
select_openblas() {
  if [[ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$OPENBLAS" ]]; then
    echo "install_deps.sh: selecting OpenBLAS for libblas.so.3"
    ${SUDO:-} update-alternatives --set libblas.so.3-x86_64-linux-gnu "$OPENBLAS"
  fi
}

missing() {
  local package
  for package in "${PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]]; then
      echo "$package"
    fi
  done
}

todo=$(missing)
if [[ -z "$todo" ]]; then
  echo "install_deps.sh: all ${#PACKAGES[@]} packages are installed"
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  select_openblas
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install_deps.sh: need root to install:" $todo >&2; exit 1; }
  sudo=(sudo)
fi
echo "install_deps.sh: installing" $todo
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"

todo=$(missing)
if [[ -n "$todo" ]]; then
  echo "install_deps.sh: still missing after apt-get install:" $todo >&2
  exit 1
fi
SUDO="${sudo[*]}"
select_openblas
