//===- fuzz_archive.cpp - TorchScript archives from memory: load, -O1 -----===//
///
/// The bytes as a file tsopt was given: loaded as the tools load archives
/// (zip reader, unpickler, the code's compiler), then, when the module has a
/// forward method, frozen and optimized by -O1 (whose module pipeline starts
/// with freeze). Inputs without the zip signature are IR text's business
/// (fuzz_ir_o1).
///
//===----------------------------------------------------------------------===//
#include "fuzz/fuzz_common.h"

#include "ir_tools/common/input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tsopt::fuzz::initialize();
  std::string bytes = tsopt::fuzz::bytesOf(data, size);
  if (!tsopt::looksLikeArchive(bytes)) {
    return 0;
  }
  std::optional<tsopt::LoadedInput> input;
  tsopt::fuzz::expectOnlyTsoptErrors("loading an archive", [&] {
    // As tsopt loads an archive for a pipeline that freezes first (-O1).
    input = tsopt::loadInputBytes("fuzz.pt", std::move(bytes), /*splitInputFile=*/false, std::nullopt, {},
                                  tsopt::ModuleClasses::Merged);
  });
  if (!input || !input->module || !input->module->find_method("forward")) {
    return 0;
  }
  tsopt::IRUnit unit = tsopt::IRUnit::fromModule(*input->module, "forward");
  tsopt::fuzz::optimizeOrAbort(unit, 1);
  return 0;
}
