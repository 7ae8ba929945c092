#!/usr/bin/env bash
# The whole test suite under ASan + UBSan (docs/robustness.md, "The sanitizer
# build"): configures build-asan/ once (clang 14, PyTorch 2.x from .venv/,
# -DTSOPT_SANITIZE=address,undefined, no CUDA kernels, no benchmarks; the fuzz
# targets too, so the same build serves scripts/fuzz_smoke.sh through
# TSOPT_FUZZ_BUILD_DIR=build-asan), builds it under /tmp/tsopt-build-asan.lock
# and runs ctest there with the sanitizers' options below (lit passes them on
# to the tools; Python's RUN lines preload the ASan runtime, lit.cfg.py).
#   scripts/test_sanitized.sh               configure, build, every test
#   scripts/test_sanitized.sh -R lit        arguments go to ctest
# $TSOPT_ASAN_BUILD_DIR overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TSOPT_ASAN_BUILD_DIR:-build-asan}
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
    -DTSOPT_TORCH=pip -DTSOPT_SANITIZE=address,undefined -DTSOPT_BUILD_FUZZERS=ON \
    -DTSOPT_BUILD_BENCHMARKS=OFF -DTSOPT_CUDA=OFF
fi
flock /tmp/tsopt-build-asan.lock cmake --build "$build"
# LeakSanitizer does not scan thread-local storage (use_tls=0): LLVM 14's
# crashes reading the dynamic TLS of a library loaded with dlopen (the
# runtime's libdnnl) on Debian 12's glibc ("Tracer caught signal 11"), so what
# only TLS points to is suppressed instead (fuzz/lsan.supp, which says why for
# each; docs/robustness.md lists them).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:handle_abort=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-use_tls=0:suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure "$@"
