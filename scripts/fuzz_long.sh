#!/usr/bin/env bash
# Long fuzzing campaigns, outside CI (issue 16, "at length"): resumable, one
# campaign per target, whose corpus, findings and statistics persist between
# runs, so that many sessions' runs add up.
#
#   scripts/fuzz_long.sh [--seconds S] [--jobs J] [--timeout T] [TARGET...]
#                                          run each target S seconds (default 3600), J at once;
#                                          an input running over T seconds (default 20) is a hang
#   scripts/fuzz_long.sh --summary [TARGET...]                  totals of every run so far
#
# State lives in $TSOPT_FUZZ_BUILD_DIR/long/TARGET/ (default build-fuzz/long):
#   corpus/     the campaign's corpus (seeded from the smoke corpus on the first run)
#   findings/   crashing, hanging or leaking inputs libFuzzer wrote
#   runs.tsv    one line per run: start, seed, seconds, executions, cov, ft, peak RSS MB, result
#   run-N.log   libFuzzer's output of run N
# Each run uses a new seed (1000 + the number of earlier runs), so runs do not
# repeat each other. A run that finds something stops that target's run and
# records the input; fix it, add it to fuzz/regressions/TARGET/, and go on.
# Stopping a run early (pkill -INT -f build-fuzz/fuzz/TARGET) records it as
# "clean (stopped by SIGINT)" with what it ran.
# Build the targets first (scripts/fuzz_smoke.sh builds them). The timeout is
# wall-clock time: a campaign run at low priority on a busy machine (nice, or
# an autogroup's nice) can starve and report a hang that is not one; replay
# such a finding at normal priority before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TSOPT_FUZZ_BUILD_DIR:-build-fuzz}
seconds=3600 jobs=1 timeout=20 summary=0 targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --summary) summary=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "fuzz_long.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_ir_o1 fuzz_ir_o2 fuzz_pipeline fuzz_archive fuzz_input_sets fuzz_tsdump)
source scripts/fuzz_targets.sh

summarize() {
  local target=$1 runs=$build/long/$1/runs.tsv
  [[ -f $runs ]] || { printf '%-16s no runs\n' "$target"; return; }
  awk -F'\t' -v t="$target" '
    { n++; s += $3; e += $4; if ($5 > cov) cov = $5; if ($6 > ft) ft = $6; if ($7 > rss) rss = $7;
      if ($8 !~ /^clean/) f++ }
    END { printf "%-16s runs %d, %.2f h, %d executions (%.0f/s), cov %d, ft %d, peak RSS %d MB, runs with a finding %d\n",
                 t, n, s / 3600, e, (s > 0 ? e / s : 0), cov, ft, rss, f }' "$runs"
}

run_one() {
  local target=$1 dir=$build/long/$1
  mkdir -p "$dir/corpus" "$dir/findings"
  [[ -n $(ls -A "$dir/corpus") ]] || cp -r "$build/corpus/$(corpus_of "$target")/." "$dir/corpus/"
  local n=0
  [[ ! -f $dir/runs.tsv ]] || n=$(wc -l < "$dir/runs.tsv")
  local seed=$((1000 + n)) log=$dir/run-$((n + 1)).log start
  start=$(date -u +%FT%TZ)
  local begin=$SECONDS result=clean
  # shellcheck disable=SC2046
  if ! ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=$(leak_check_of "$target") "$build/fuzz/$target" \
       -timeout="$timeout" -rss_limit_mb=4096 -malloc_limit_mb=2048 -seed="$seed" -max_total_time="$seconds" \
       -print_final_stats=1 -artifact_prefix="$dir/findings/" $(dictionary_of "$target") "$dir/corpus" > "$log" 2>&1; then
    local found
    # No unit written (a run stopped by SIGINT, say) must not end this function under set -e before the run is recorded.
    found=$({ grep -oE 'Test unit written to [^ ]+' "$log" || true; } | tail -1 | sed 's/Test unit written to //')
    if grep -q 'libFuzzer: run interrupted' "$log"; then
      result="clean (stopped by SIGINT)"  # libFuzzer exits 72; a slow unit it wrote before does not end a run
    elif [[ -z $found ]]; then
      result="finding: none written (see $log)"
    elif did_not_reproduce "$build/fuzz/$target" "$found" "$timeout" 0; then
      mkdir -p "$dir/findings/not-reproduced"
      mv "$found" "$dir/findings/not-reproduced/"
      result="clean (a $(basename "$found" | cut -d- -f1) that did not reproduce on replay)"
    else
      result="finding: $found"
    fi
  fi
  local executions cov ft rss
  executions=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  rss=$(grep -oE '^stat::peak_rss_mb: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$start" "$seed" $((SECONDS - begin)) "${executions:-0}" "${cov:-0}" \
    "${ft:-0}" "${rss:-0}" "$result" >> "$dir/runs.tsv"
  echo "fuzz_long: $target run $((n + 1)) (seed $seed): $result; $(summarize "$target")"
}

if [[ $summary == 1 ]]; then
  for target in "${targets[@]}"; do summarize "$target"; done
  exit 0
fi
for target in "${targets[@]}"; do
  [[ -x $build/fuzz/$target ]] || { echo "fuzz_long.sh: $build/fuzz/$target is not built (scripts/fuzz_smoke.sh builds it)" >&2; exit 2; }
done
running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then wait -n || true; running=$((running - 1)); fi
done
wait
