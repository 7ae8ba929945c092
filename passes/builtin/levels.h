//===- levels.h - Optimization levels as named pipelines ------------------===//
///
/// The built-in named pipelines besides single passes. -O1 … -O3 are the
/// named pipelines O1 … O3 of pass_registry.def, spelled in
/// pipeline text, so `--list-passes` and `--print-pipeline` show exactly what a
/// level runs and a user can copy and edit it, or name a level inside a longer
/// pipeline (`--passes=O2,quantize-dynamic`). Levels never include
/// numerics-changing passes (quantization, reduced precision).
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/registry.h"

#include <string>

namespace tsopt {

constexpr int kMaxOptimizationLevel = 3;

/// The registered name of -O<level>'s pipeline ("O2"); throws tsopt::Error
/// (Usage) for a level out of range. -O0 has none: it runs nothing.
std::string levelPipelineName(int level);

/// A named pipeline whose text is the same for every input.
PipelineBuilder fixedPipeline(std::string text);

/// The builder of -O<level>'s pipeline text. Bare graph inputs (`hasModule`
/// false) get `inline` where modules get `freeze`.
PipelineBuilder levelPipeline(int level);

} // namespace tsopt
