//===- fuzz_common.h - Set-up and checks shared by the fuzz targets -------===//
///
/// Each fuzz target (fuzz/*.cpp) is one LLVMFuzzerTestOneInput over tsopt's
/// library, as the tools call it. What they share lives here: the built-in
/// passes registered once, the -O pipelines run as the driver runs them, and
/// the rule every target checks: a bad input is a tsopt::Error (the tools'
/// one-line message), and anything else that escapes is a finding, reported
/// and aborted on, as a crash would be.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass_manager.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tsopt::fuzz {

/// Registers the built-in passes (the runtime's tsopt:: ops register when its
/// library loads) and runs LibTorch on one thread. Once per process.
void initialize();

/// The fuzzer's bytes as a string.
std::string bytesOf(const uint8_t* data, size_t size);

/// Runs `body`; a tsopt::Error is an input rejected as the tools reject it and
/// is swallowed. Any other exception aborts, naming `what` the target did.
void expectOnlyTsoptErrors(const std::string& what, const std::function<void()>& body);

/// Runs -O`level` on `unit` with the verifier after every pass, as
/// `tsopt -O<level> --verify-each` does. Any exception other than a pass
/// failure aborts. A pass failure (`tsopt: error: pass 'P' failed: ...`, exit
/// code 4) is a clean error, allowed by default: the known ones are listed in
/// docs/robustness.md. With $TSOPT_FUZZ_STRICT set they abort too.
void optimizeOrAbort(IRUnit& unit, int level);

/// Parses IR text as the tools do (several graphs split at `# -----`), and
/// calls `each` on every graph that parses and verifies.
void forEachParsedGraph(const std::string& text, const std::function<void(std::shared_ptr<torch::jit::Graph>)>& each);

} // namespace tsopt::fuzz
