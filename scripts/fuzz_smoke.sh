#!/usr/bin/env bash
# The fuzz smoke of CI (docs/robustness.md): builds the libFuzzer targets of
# fuzz/ with ASan and UBSan (clang, PyTorch 2.x from .venv/), replays the
# regression inputs of fuzz/regressions/<target>/, then fuzzes each target for
# a fixed time from the seeds of fuzz/make_corpus.sh. Any crash, hang, leak,
# undefined behaviour or stray exception fails it, and the failing input is
# printed (base64, and a hex dump of its start).
#   scripts/fuzz_smoke.sh            every target, $TSOPT_FUZZ_SECONDS (30) each
#   scripts/fuzz_smoke.sh fuzz_ir_o1 one target
# libFuzzer starts from seed $TSOPT_FUZZ_SEED (1), so a run can be repeated.
# A regression input that fails always fails the script; a new finding of the
# fuzzing run fails it too (as in .ci/run), unless TSOPT_FUZZ_FINDINGS=report,
# for exploring: then it is printed, input included, and the script goes on.
# A timeout or memory-limit finding that runs clean when replayed once was the
# machine (a starved run), not the input: it is printed and does not fail.
# Builds into $TSOPT_FUZZ_BUILD_DIR (build-fuzz/); needs build/ for the seeds
# (its tsopt lists the passes).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TSOPT_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${TSOPT_FUZZ_SECONDS:-30}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_ir_o1 fuzz_ir_o2 fuzz_pipeline fuzz_archive fuzz_input_sets fuzz_tsdump)

if [[ ! -f $build/build.ninja ]]; then
  # Only what the targets link: no tests, benchmarks or CUDA kernels.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
    -DTSOPT_TORCH=pip -DTSOPT_BUILD_FUZZERS=ON -DTSOPT_BUILD_TESTS=OFF -DTSOPT_BUILD_BENCHMARKS=OFF -DTSOPT_CUDA=OFF
fi
cmake --build "$build" --target "${targets[@]}"
fuzz/make_corpus.sh "$build/corpus" "${TSOPT_FUZZ_TSOPT:-build/ir_tools/tsopt}"

source scripts/fuzz_targets.sh

show_failure() {
  local target=$1 artifact
  for artifact in "$build/artifacts/$target"-*; do
    [[ -f $artifact ]] || continue
    echo "== $target: failing input $artifact ($(stat -c %s "$artifact") bytes), base64:"
    base64 -w 76 "$artifact" | head -c 20000
    echo "== hex dump of its start:"
    head -c 512 "$artifact" | od -A x -t x1z
  done
}

failed=()
reported=()
for target in "${targets[@]}"; do
  binary=$build/fuzz/$target
  rm -rf "$build/artifacts/$target"-* "$build/work/$target"
  mkdir -p "$build/artifacts" "$build/work/$target"
  log=$build/work/$target.log
  start=$SECONDS
  # A fixed seed: the same tree fuzzes the same inputs first, so a CI failure
  # reproduces (TSOPT_FUZZ_SEED=0 asks libFuzzer for a random one).
  options=(-timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=2048 -seed="${TSOPT_FUZZ_SEED:-1}"
           -artifact_prefix="$build/artifacts/$target-")
  status=ok
  : > "$log"
  # LibTorch's archive loader leaks its compiler's objects when a malformed
  # archive makes it throw (not tsopt's memory): leaks are not checked there.
  leaks=$(leak_check_of "$target")
  if compgen -G "fuzz/regressions/$target/*" > /dev/null &&
     ! ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=$leaks "$binary" "${options[@]}" fuzz/regressions/"$target"/* >> "$log" 2>&1; then
    status="a regression input fails"
  elif ! ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=$leaks "$binary" "${options[@]}" $(dictionary_of "$target") -max_total_time="$seconds" -print_final_stats=1 \
         "$build/work/$target" "$build/corpus/$(corpus_of "$target")" >> "$log" 2>&1; then
    status="fuzzing found a failure"
    artifact=$(compgen -G "$build/artifacts/$target-*" | head -1 || true)
    if [[ -n $artifact ]] && did_not_reproduce "$binary" "$artifact" 20 "$leaks"; then
      status="a timeout or memory limit that did not reproduce on replay"
    fi
  fi
  stats=$(grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' ' || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  echo "fuzz_smoke: $target: $status in $((SECONDS - start)) s; $cov; $stats"
  if [[ $status != ok ]]; then
    grep -E -A40 'ERROR: |runtime error:|tsopt fuzz:|==[0-9]+== ?ERROR|Test unit written|SUMMARY' "$log" | head -80
    show_failure "$target"
    if [[ $status == "a timeout or memory limit"* ||
          ($status == "fuzzing found a failure" && ${TSOPT_FUZZ_FINDINGS:-fail} == report) ]]; then
      reported+=("$target")
    else
      failed+=("$target")
    fi
  fi
done
if [[ ${#reported[@]} -gt 0 ]]; then
  echo "fuzz_smoke: reported only (TSOPT_FUZZ_FINDINGS=report, or a timeout or memory limit that ran clean on replay): ${reported[*]}" >&2
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz_smoke: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz_smoke: every target built under the sanitizers and replayed its regression inputs; ${#reported[@]} of ${#targets[@]} fuzzed into a new finding in ${seconds} s"
