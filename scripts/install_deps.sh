#!/usr/bin/env bash
# Installs what tsopt needs to build and test a LibTorch line: the one list of
# Debian 12 packages, used by scripts/quickstart.sh and .ci/run, and for the
# PyTorch 2.x line the pinned wheel in a virtual environment
# (scripts/install_torch_pip.sh). The line is TSOPT_TORCH's: pip (the default),
# debian, or all (both, as CI builds them). Does nothing when all is installed;
# otherwise needs root (or sudo) for the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

line=${TSOPT_TORCH:-pip}
PACKAGES=(
  build-essential cmake ninja-build git       # toolchain
  python3-venv                                # the virtual environment of the pip line
  libdnnl-dev                                 # oneDNN 2.6, the runtime's kernels (both lines)
  llvm-14-tools                               # lit and FileCheck
  clang-14 libclang-rt-14-dev                 # the sanitizer build and libFuzzer (scripts/fuzz_smoke.sh)
  libgtest-dev libgmock-dev libbenchmark-dev  # unit tests and benchmarks
  graphviz                                    # dot, to render the driver's graph dumps
  libjemalloc-dev                             # the drivers' allocator (TSOPT_JEMALLOC, docs/scaling.md)
  zlib1g-dev                                  # inflating an archive's deflated pickles to check them (passes/core/archive_check)
  python3-matplotlib                          # the chart of docs/benchmarks.md
)
DEBIAN_TORCH_PACKAGES=(
  libtorch-dev python3-torch                  # LibTorch 1.13 (C++) and torch for /usr/bin/python3
  libopenblas0-openmp                         # a BLAS for LibTorch (--no-install-recommends pulls in none)
  python3-torchvision                         # the model zoo (examples/models)
  pybind11-dev                                # the Python package's extension (python/; the wheel's torch has its own)
  python3-pytest                              # the Python package's tests (ctest python_api) on this line
)
case "$line" in
  pip) ;;
  debian|all) PACKAGES+=("${DEBIAN_TORCH_PACKAGES[@]}") ;;
  *) echo "install_deps.sh: TSOPT_TORCH=$line: expected pip, debian or all" >&2; exit 2 ;;
esac

# LibTorch calls the system libblas.so.3. Point it at OpenBLAS: the alternative
# may be the reference BLAS, which makes every fp32 linear layer many times slower.
OPENBLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
select_openblas() {
  [[ $line != pip ]] || return 0
  if [[ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$OPENBLAS" ]]; then
    echo "install_deps.sh: selecting OpenBLAS for libblas.so.3"
    ${SUDO:-} update-alternatives --set libblas.so.3-x86_64-linux-gnu "$OPENBLAS"
  fi
}

install_torch_pip() {
  [[ $line == debian ]] || scripts/install_torch_pip.sh
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
  install_torch_pip
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
install_torch_pip
