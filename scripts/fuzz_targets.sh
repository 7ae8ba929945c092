# Sourced by scripts/fuzz_smoke.sh and scripts/fuzz_long.sh: what each fuzz
# target reads, its dictionary, and the sanitizers' options. $build is the
# fuzz build directory.

corpus_of() {
  case $1 in
    fuzz_pipeline) echo pipeline ;;
    fuzz_archive) echo archive ;;
    fuzz_input_sets) echo inputs ;;
    *) echo ir ;;
  esac
}

dictionary_of() {
  case $1 in
    fuzz_pipeline) echo "-dict=$build/corpus/pipeline.dict" ;;
    fuzz_ir_*|fuzz_tsdump) echo "-dict=fuzz/ir.dict" ;;
  esac
}

# LeakSanitizer on (1) or off (0): when a malformed archive makes
# torch::jit::load throw, LibTorch leaks what its compiler had built
# (docs/robustness.md, "Suppressions").
leak_check_of() {
  [[ $1 == fuzz_archive ]] && echo 0 || echo 1
}

# Leaks inside LibTorch's own readers on malformed input are suppressed
# (fuzz/lsan.supp and docs/robustness.md say which, and why).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:handle_abort=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Whether a timeout or out-of-memory finding was the machine and not the
# input: libFuzzer's timeout is wall-clock time (a starved run on a busy
# machine reaches it), and its RSS limit counts what earlier inputs left.
# Replays FILE once with the same limits; true when it now runs clean.
did_not_reproduce() {
  local binary=$1 file=$2 timeout=$3 leaks=$4
  [[ $(basename "$file") =~ (^|-)(timeout|oom|slow-unit)- ]] || return 1
  ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=$leaks "$binary" -timeout="$timeout" -rss_limit_mb=4096 \
    -malloc_limit_mb=2048 "$file" > /dev/null 2>&1
}
