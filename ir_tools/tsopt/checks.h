//===- checks.h - The checks around a tsopt run ---------------------------===//
///
/// The driver's safety nets, each behind a flag: a reproducer when a pass fails
/// (--reproducer); the optimized module compared with a fresh load of the
/// original (--check-equivalence: equal within tolerances, or an accuracy
/// report when a pass changes numerics or --min-cosine sets a floor); and, when
/// that comparison fails, the first bad pass and rewrite (--bisect) and a
/// reproducer. Diagnostics go to the run's error stream.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/common/input_file.h"
#include "ir_tools/tsopt/driver_options.h"
#include "ir_tools/tsopt/equivalence.h"
#include "ir_tools/tsopt/parsed_pipeline.h"
#include "passes/core/input_sets.h"
#include "passes/core/pass_manager.h"

#include <torch/csrc/jit/api/module.h>

#include <functional>
#include <iosfwd>
#include <string>

namespace tsopt {

/// Makes a fresh copy of the input, as it was before any pass ran.
using UnitFactory = std::function<IRUnit()>;

/// What the checks of one run share.
struct CheckContext {
  const DriverOptions& options;
  const ParsedPipeline& pipeline;
  std::ostream& err;
};

/// Runs `manager` (holding an instance of the context's pipeline) on `unit`
/// and verifies the result. When a pass fails and --reproducer is set, writes
/// the IR before that pass as a lit test, then rethrows. Throws tsopt::Error
/// (PassFailure) for an invalid result.
void runPipeline(const CheckContext& context, PassManager& manager, IRUnit& unit, const UnitFactory& freshUnit);

/// The reference and inputs of --check-equivalence, taken before the pipeline runs.
struct EquivalenceSetup {
  torch::jit::Module reference;
  InputSets inputs;
  ToleranceOverride tolerance;
  std::string inputsPath;  ///< Empty when the inputs were synthesized.
};

/// Inputs: the file given; else MODEL.inputs.pt next to MODEL.pt (what the
/// model zoo writes); else the --calibration-data inputs; else made from the
/// input types the graph recorded.
EquivalenceSetup prepareEquivalence(const DriverOptions& options, const LoadedInput& input, std::ostream& err);

/// Compares the optimized module with the reference and prints the report:
/// accuracy when a pass of the pipeline changes numerics or --min-cosine is
/// given (failing on a broken program or a cosine below the floor), else
/// equivalence within tolerances. On a failure bisects and writes a
/// reproducer when asked, then throws tsopt::Error (PassFailure).
void checkOptimizedModule(const CheckContext& context, EquivalenceSetup& setup, IRUnit& optimized,
                          const UnitFactory& freshUnit);

} // namespace tsopt
