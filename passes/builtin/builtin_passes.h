//===- builtin_passes.h - Registers tsopt's own passes and pipelines ------===//
///
/// The layer above the pass families (as LLVM's lib/Passes sits above its
/// transforms): it knows every built-in pass and the -O levels, which core does
/// not. A tool calls registerBuiltinPasses() before reading its command line,
/// as mlir-opt calls registerAllPasses(); a project embedding tsopt calls it if
/// it wants the built-in passes next to its own.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/registry.h"

namespace tsopt {

/// Registers the passes and pipelines of pass_registry.def in `registry`;
/// throws tsopt::Error if one of their names is already taken there.
void registerBuiltinPasses(PassRegistry& registry);

/// Registers them in PassRegistry::global(), once: later calls do nothing.
void registerBuiltinPasses();

} // namespace tsopt
