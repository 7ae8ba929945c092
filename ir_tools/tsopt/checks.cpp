#include "ir_tools/tsopt/checks.h"

#include "ir_tools/tsopt/bisect.h"
#include "ir_tools/tsopt/reduce_driver.h"
#include "ir_tools/tsopt/reproducer.h"
#include "passes/core/error.h"
#include "passes/core/string_utils.h"
#include "passes/core/verifier.h"

#include <ATen/Context.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace tsopt {
namespace {

void verifyResult(const IRUnit& unit) {
  if (auto issue = verifyGraph(unit.graph)) {
    throw Error(ErrorKind::PassFailure, "verifier failed on the pipeline's result: " + issue->message);
  }
}

/// --reduce-reproducer: shrinks the graph on which `passText` alone fails to
/// one where it fails the same way; returns the reproducer's note about it.
/// An archive's is reduced as tsopt-reduce reduces archives: its forward,
/// frozen by then, without `self`, and written back as a module.
std::string reduceForReproducer(const CheckContext& context, IRUnit& before, const std::string& passText,
                                bool failedCheck) {
  auto whole = [&](const std::string& why) {
    context.err << "tsopt: note: --reduce-reproducer: " << why << "; the reproducer is written whole\n";
    return std::string();
  };
  if (failedCheck) {
    return whole("a failed check's reproducer is not reduced");
  }
  ParsedPipeline pass = ParsedPipeline::parse(passText, PassRegistry::global(), "--reproducer", false);
  std::shared_ptr<torch::jit::Graph> graph = before.graph;
  ReduceOptions options;
  if (before.module) {
    if (before.methodName != "forward") {
      return whole("an archive's method other than forward is not reduced");
    }
    try {
      graph = graphOfFrozenModule(*before.module, "the module before '" + passText + "'");
    } catch (const Error&) {
      return whole("the module before '" + passText + "' is not frozen (its forward reads the module)");
    }
    options.roundTrip = archiveRoundTrip;
  }
  std::optional<PipelineFailure> failure;
  try {
    failure = pipelineFailure(pass, graph);
  } catch (const Error& error) {  // A module pass on the bare graph.
    return whole(error.what());
  }
  if (!failure) {
    return whole("'" + passText + "' alone does not fail on the " + (before.module ? "frozen graph" : "IR") +
                 " before it");
  }
  ReduceResult result = reduceGraph(graph, sameFailureTest(pass, *failure, ""), options);
  context.err << "tsopt: reproducer reduced from " << result.nodesBefore << " to " << result.nodesAfter
              << " nodes (" << result.tests << " tests)\n";
  if (before.module) {
    before.module = archiveOfGraph(result.graph);
    before.graph = before.module->get_method("forward").graph();
  } else {
    before.graph = result.graph;
  }
  return "Reduced by --reduce-reproducer from " + std::to_string(result.nodesBefore) + " to " +
         std::to_string(result.nodesAfter) + " nodes (constants aside).";
}

/// Writes the IR before pass `passIndex` and a lit test rerunning `passText` on
/// it. `equivalenceInputs` is set for a failed comparison (empty when its inputs
/// were synthesized), unset for a failed pass.
void reportReproducer(const CheckContext& context, size_t passIndex, const std::string& passText,
                      const std::string& reason, const UnitFactory& freshUnit,
                      const std::optional<std::string>& equivalenceInputs,
                      std::optional<double> minCosine = std::nullopt) {
  IRUnit before = unitBeforePass(context.pipeline, passIndex, freshUnit);
  ReproducerRequest request;
  if (context.options.reduceReproducer) {
    request.reduction = reduceForReproducer(context, before, passText, equivalenceInputs.has_value());
  }
  request.directory = *context.options.reproducerDir;
  request.unitBeforePass = &before;
  request.passText = passText;
  request.pipelineText = context.pipeline.text();
  request.passIndex = passIndex;
  request.reason = reason;
  request.equivalenceCheck = equivalenceInputs.has_value();
  request.minCosine = minCosine;
  if (equivalenceInputs && !equivalenceInputs->empty()) {
    request.equivalenceInputs = equivalenceInputs;
  }
  for (const std::string& plugin : context.options.plugins) {
    char* resolved = realpath(plugin.c_str(), nullptr);
    request.plugins.push_back(resolved != nullptr ? resolved : plugin);
    free(resolved);
  }
  context.err << "tsopt: reproducer written to " << writeReproducer(request) << "\n";
}

void printEquivalenceReport(const EquivalenceReport& report, size_t inputSets, std::ostream& err) {
  err << "tsopt: equivalence: " << report.calls << (report.calls == 1 ? " call" : " calls") << " on " << inputSets
      << " input set"
      << (inputSets == 1 ? "" : "s") << "\n";
  for (const LeafComparison& leaf : report.leaves) {
    err << "  " << leaf.path << " " << leaf.description << ": max abs error " << leaf.maxAbsError
        << ", max rel error " << leaf.maxRelError << (leaf.matches ? "" : "  MISMATCH: " + leaf.problem) << "\n";
  }
}

/// Why a candidate module fails the run's check, or nothing when it passes.
using FailureProbe = std::function<std::optional<std::string>(IRUnit&)>;

// The run's check failed: bisects and writes a reproducer when asked, then
// fails the run with `reason`.
[[noreturn]] void failCheck(const CheckContext& context, const EquivalenceSetup& setup, const UnitFactory& freshUnit,
                            const FailureProbe& failureOf, const std::string& reason,
                            std::optional<double> minCosine) {
  const DriverOptions& options = context.options;
  std::optional<size_t> culprit;
  std::string culpritText = context.pipeline.text();
  if (options.bisect) {
    BisectResult result = bisectPipeline(context.pipeline, freshUnit, failureOf);
    context.err << "tsopt: bisect: " << result.runs << " runs\n";
    if (result.badPass) {
      culprit = result.badPass;
      culpritText = result.badPassText;
      context.err << "tsopt: bisect: first bad pass: #" << *result.badPass + 1 << " '" << result.badPassText
                  << "' (" << result.failure << ")\n";
      if (result.badRewrite) {
        context.err << "tsopt: bisect: first bad rewrite: #" << *result.badRewrite << " of that pass: "
                    << result.badRewriteDescription << "\n";
      }
    } else {
      context.err << "tsopt: bisect: no prefix of the pipeline fails on its own (non-deterministic pass?)\n";
    }
  }
  if (options.reproducerDir) {
    reportReproducer(context, culprit.value_or(0), culpritText, reason, freshUnit, setup.inputsPath, minCosine);
  }
  throw Error(ErrorKind::PassFailure, reason);
}

// Compares the optimized module with a fresh load of the input; on a mismatch
// bisects and writes a reproducer when asked, then fails the run.
void checkEquivalent(const CheckContext& context, EquivalenceSetup& setup, IRUnit& unit,
                     const UnitFactory& freshUnit) {
  const DriverOptions& options = context.options;
  EquivalenceReport report =
      checkEquivalence(setup.reference, *unit.module, options.method, setup.inputs, setup.tolerance);
  printEquivalenceReport(report, setup.inputs.size(), context.err);
  if (report.equivalent) {
    return;
  }
  auto failureOf = [&](IRUnit& candidate) -> std::optional<std::string> {
    EquivalenceReport probe =
        checkEquivalence(setup.reference, *candidate.module, options.method, setup.inputs, setup.tolerance);
    return probe.equivalent ? std::nullopt : std::optional<std::string>(probe.failure);
  };
  failCheck(context, setup, freshUnit, failureOf,
            "the optimized module's outputs differ from the original's: " + report.failure, std::nullopt);
}

std::vector<std::string> numericsChangingPasses(const ParsedPipeline& pipeline) {
  std::vector<std::string> names;
  for (const std::unique_ptr<Pass>& pass : pipeline.passes()) {
    if (pass->changesNumerics() && std::find(names.begin(), names.end(), pass->name()) == names.end()) {
      names.push_back(pass->name());
    }
  }
  return names;
}

void printAccuracyReport(const AccuracyReport& report, size_t inputSets, const std::string& why, std::ostream& err) {
  err << "tsopt: accuracy (" << why << "): " << report.calls << (report.calls == 1 ? " call" : " calls") << " on "
      << inputSets << " input set" << (inputSets == 1 ? "" : "s") << ", against the original module\n";
  for (const LeafComparison& leaf : report.leaves) {
    err << "  " << leaf.path << " " << leaf.description << ": ";
    if (!leaf.sameStructure) {
      err << "MISMATCH: " << leaf.problem << "\n";
      continue;
    }
    if (leaf.description.rfind("Float", 0) == 0 || leaf.description.rfind("Double", 0) == 0 ||
        leaf.description.rfind("Half", 0) == 0 || leaf.description.rfind("BFloat16", 0) == 0) {
      err << "cosine " << std::setprecision(6) << std::fixed << leaf.cosine << std::defaultfloat
          << ", max abs error " << std::setprecision(4) << leaf.maxAbsError << std::setprecision(6);
      if (leaf.top1.rows > 0) {
        err << ", top-1 agreement " << leaf.top1.agreeing << "/" << leaf.top1.rows << " ("
            << std::setprecision(4) << 100.0 * leaf.top1.agreeing / leaf.top1.rows << "%)" << std::setprecision(6);
      }
      err << "\n";
    } else {
      err << (leaf.matches ? "exact" : "differs: " + leaf.problem) << "\n";
    }
  }
}

// Why an accuracy report falls short of --min-cosine, or nothing.
std::optional<std::string> belowMinCosine(const AccuracyReport& report, std::optional<double> minCosine) {
  if (!report.ok) {
    return report.failure;
  }
  if (!minCosine) {
    return std::nullopt;
  }
  for (const LeafComparison& leaf : report.leaves) {
    if (std::isnan(leaf.cosine) || leaf.cosine < *minCosine) {
      return leaf.path + ": cosine " + preciseText(leaf.cosine) + " is below --min-cosine=" + preciseText(*minCosine);
    }
  }
  return std::nullopt;
}

// The check for pipelines that change numerics on purpose: an accuracy report,
// failing only on a broken program or below --min-cosine.
void checkAccuracy(const CheckContext& context, EquivalenceSetup& setup, IRUnit& unit, const UnitFactory& freshUnit,
                   const std::string& why) {
  const DriverOptions& options = context.options;
  AccuracyReport report = measureAccuracy(setup.reference, *unit.module, options.method, setup.inputs);
  printAccuracyReport(report, setup.inputs.size(), why, context.err);
  std::optional<std::string> failure = belowMinCosine(report, options.minCosine);
  if (!failure) {
    if (options.minCosine) {
      context.err << "tsopt: accuracy: worst cosine " << preciseText(report.worstCosine()) << " >= --min-cosine="
                  << preciseText(*options.minCosine) << "\n";
    }
    return;
  }
  auto failureOf = [&](IRUnit& candidate) {
    return belowMinCosine(measureAccuracy(setup.reference, *candidate.module, options.method, setup.inputs),
                          options.minCosine);
  };
  failCheck(context, setup, freshUnit, failureOf, "the optimized module is not accurate enough: " + *failure,
            options.minCosine);
}

} // namespace

void runPipeline(const CheckContext& context, PassManager& manager, IRUnit& unit, const UnitFactory& freshUnit) {
  try {
    manager.run(unit);
    verifyResult(unit);
  } catch (const Error& error) {
    if (context.options.reproducerDir && manager.failedPass()) {
      size_t index = *manager.failedPass();
      reportReproducer(context, index, context.pipeline.passText(index), error.what(), freshUnit, std::nullopt);
    }
    throw;
  }
}

EquivalenceSetup prepareEquivalence(const DriverOptions& options, const LoadedInput& input, std::ostream& err) {
  EquivalenceSetup setup{input.freshModule(), {}, {options.rtol, options.atol}, ""};
  std::string inputsPath = *options.checkEquivalence;
  if (inputsPath.empty() && hasSuffix(input.path, ".pt")) {
    std::string sidecar = input.path.substr(0, input.path.size() - 3) + ".inputs.pt";
    if (std::ifstream(sidecar).good()) {
      inputsPath = sidecar;
      err << "tsopt: equivalence: using the inputs in " << sidecar << "\n";
    }
  }
  if (inputsPath.empty() && options.exampleInputs) {
    inputsPath = *options.exampleInputs;
    err << "tsopt: equivalence: using the example inputs in " << inputsPath << "\n";
  }
  if (inputsPath.empty() && options.calibrationData) {
    inputsPath = *options.calibrationData;
    err << "tsopt: equivalence: using the calibration inputs in " << inputsPath << "\n";
  }
  setup.inputs = inputsPath.empty() ? synthesizeInputs(setup.reference, options.method) : loadInputSets(inputsPath);
  if (input.device) {
    setup.inputs = toDevice(setup.inputs, *input.device);
    if (input.device->is_cuda()) {
      // Both modules then compute float32 in float32: with TF32 (cuDNN's
      // default) two correct convolutions differ far beyond the tolerances.
      at::globalContext().setAllowTF32CuDNN(false);
      at::globalContext().setAllowTF32CuBLAS(false);
      err << "tsopt: equivalence: TF32 is off for the comparison on the GPU\n";
    }
  }
  setup.inputsPath = inputsPath;
  return setup;
}

void checkOptimizedModule(const CheckContext& context, EquivalenceSetup& setup, IRUnit& optimized,
                          const UnitFactory& freshUnit) {
  std::vector<std::string> changing = numericsChangingPasses(context.pipeline);
  if (changing.empty() && !context.options.minCosine) {
    checkEquivalent(context, setup, optimized, freshUnit);
    return;
  }
  std::string why;
  for (const std::string& name : changing) {
    why += (why.empty() ? "" : ", ") + name;
  }
  why = why.empty() ? "--min-cosine" : why + (changing.size() == 1 ? " changes" : " change") + " numerics";
  checkAccuracy(context, setup, optimized, freshUnit, why);
}

} // namespace tsopt
