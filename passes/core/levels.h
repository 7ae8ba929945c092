//===- levels.h - Optimization levels as named pipelines ------------------===//
///
/// -O0 … -O3 are pipelines spelled in pipeline text, so `--print-pipeline`
/// shows exactly what a level runs and a user can copy and edit it. Levels never
/// include numerics-changing passes (quantization, reduced precision).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>

namespace tsopt {

constexpr int kMaxOptimizationLevel = 3;

/// Pipeline text for -O<level>; empty for -O0. `hasModule` is false for bare
/// graph inputs, whose pipelines leave out module passes such as freeze.
std::string pipelineForLevel(int level, bool hasModule);

} // namespace tsopt
