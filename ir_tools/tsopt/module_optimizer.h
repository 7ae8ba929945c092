//===- module_optimizer.h - A pipeline on a module's method, in process ---===//
///
/// What `tsopt MODEL.pt` does to the archive's method, as functions that the
/// driver and the Python API (python/, `tsopt.optimize`) share: the pipeline
/// from its spelling ("-O2" or pipeline text), and one run of it on a method,
/// specialized to example inputs when given (input_specialization.h). Errors
/// are tsopt::Error with the driver's one-line messages.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/tsopt/checks.h"
#include "ir_tools/tsopt/parsed_pipeline.h"
#include "passes/core/input_specialization.h"

#include <ATen/core/ivalue.h>

#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// -O<level>'s pipeline (empty for -O0); throws tsopt::Error (Usage) for a level out of range.
ParsedPipeline parseLevelPipeline(int level, const PassRegistry& registry, bool hasModule);

/// "-O<digit>" is a level (the driver's flag), any other text a pipeline whose
/// errors name `origin`. Throws tsopt::Error (Usage).
ParsedPipeline parsePipelineSpec(const std::string& spec, const PassRegistry& registry, const std::string& origin,
                                 bool hasModule = true);

/// Example arguments of a method, and what messages call them.
struct ExampleInputs {
  std::vector<c10::IValue> arguments;
  std::string source;  ///< Where they came from, prefixing errors (the file of --example-inputs).
  std::string option;  ///< How the user gave them ("--example-inputs"), for the note.
};

/// specializeInputs on the method graph of `unit` with `example`'s
/// arguments; the method's last arguments that have default values may be
/// left out of the example.
std::vector<InputSpec> specializeUnitInputs(IRUnit& unit, const ExampleInputs& example);

/// Runs `manager` on the method of `unit` through runPipeline (verifier,
/// reproducer). With `example`, the method's inputs first take its ranks,
/// dtypes and devices, and the result keeps guards that refuse other inputs;
/// a note on `context.err` says so.
void optimizeMethod(const CheckContext& context, PassManager& manager, IRUnit& unit, const UnitFactory& freshUnit,
                    const std::optional<ExampleInputs>& example);

} // namespace tsopt
