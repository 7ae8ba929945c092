//===- fuzz_pipeline.cpp - Pipeline text against the built-in registry ----===//
///
/// Pipeline text (`--passes=`), with options and named pipelines, parsed for
/// a module or for bare IR (the first byte chooses). What parses must print
/// as canonical text that parses again to the same text: --dump-pass-pipeline
/// output is meant to be pasted back. Nothing is run: options may name files.
///
//===----------------------------------------------------------------------===//
#include "fuzz/fuzz_common.h"

#include "ir_tools/tsopt/parsed_pipeline.h"
#include "passes/core/registry.h"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tsopt::fuzz::initialize();
  if (size == 0) {
    return 0;
  }
  const bool hasModule = data[0] & 1;
  const std::string text = tsopt::fuzz::bytesOf(data + 1, size - 1);
  tsopt::fuzz::expectOnlyTsoptErrors("parsing pipeline text", [&] {
    const tsopt::PassRegistry& registry = tsopt::PassRegistry::global();
    tsopt::ParsedPipeline pipeline = tsopt::ParsedPipeline::parse(text, registry, "--passes", hasModule);
    const std::string canonical = pipeline.text();
    std::string again;
    try {
      again = tsopt::ParsedPipeline::parse(canonical, registry, "--passes", hasModule).text();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "tsopt fuzz: canonical pipeline text '%s' does not parse: %s\n", canonical.c_str(),
                   error.what());
      std::abort();
    }
    if (again != canonical) {
      std::fprintf(stderr, "tsopt fuzz: canonical pipeline text '%s' parses as '%s'\n", canonical.c_str(),
                   again.c_str());
      std::abort();
    }
    pipeline.instantiate();
  });
  return 0;
}
