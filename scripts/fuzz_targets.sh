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
