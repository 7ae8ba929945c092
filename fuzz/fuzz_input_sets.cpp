//===- fuzz_input_sets.cpp - The inputs files of --check-equivalence ------===//
///
/// The files torch.save writes and --check-equivalence, --calibration-data
/// and --example-inputs read (passes/core/input_sets.h): LibTorch's unpickler
/// on untrusted bytes, then tsopt's reading of the tuples it returns.
///
//===----------------------------------------------------------------------===//
#include "fuzz/fuzz_common.h"

#include "passes/core/input_sets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tsopt::fuzz::initialize();
  const std::vector<char> bytes(data, data + size);
  tsopt::fuzz::expectOnlyTsoptErrors("reading an inputs file", [&] { tsopt::parseInputSets("fuzz.inputs", bytes); });
  return 0;
}
