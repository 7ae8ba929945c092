//===- fuzz_ir_opt.cpp - IR text: parse, verify, -O1 or -O2 ---------------===//
///
/// Built twice, as fuzz_ir_o1 and fuzz_ir_o2 (TSOPT_FUZZ_LEVEL, fuzz/CMakeLists.txt).
/// Every graph that parses and verifies must come out of the level's pipeline
/// valid, or with a clean pass failure (fuzz_common.h).
///
//===----------------------------------------------------------------------===//
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tsopt::fuzz::initialize();
  tsopt::fuzz::forEachParsedGraph(tsopt::fuzz::bytesOf(data, size), [](std::shared_ptr<torch::jit::Graph> graph) {
    tsopt::IRUnit unit = tsopt::IRUnit::fromGraph(graph);
    tsopt::fuzz::optimizeOrAbort(unit, TSOPT_FUZZ_LEVEL);
  });
  return 0;
}
