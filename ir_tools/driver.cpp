#include "ir_tools/driver.h"

#include "ir_tools/bisect.h"
#include "ir_tools/command_line.h"
#include "ir_tools/driver_options.h"
#include "ir_tools/equivalence.h"
#include "ir_tools/ir_input.h"
#include "ir_tools/output_file.h"
#include "ir_tools/reproducer.h"
#include "passes/core/error.h"
#include "passes/builtin/levels.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/plugin.h"
#include "passes/core/registry.h"
#include "passes/core/string_utils.h"
#include "passes/core/verifier.h"

#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>

namespace tsopt {
namespace {

void listPasses(const PassRegistry& registry, std::ostream& out) {
  out << "Available passes:\n";
  for (const PassRegistration* registration : registry.all()) {
    // Names pad to a column of 24; a longer one keeps one space before its summary.
    std::string name = registration->name + std::string(registration->name.size() < 24 ? 24 - registration->name.size() : 1, ' ');
    std::string origin = registration->origin == "built-in" ? "" : " [from " + registration->origin + "]";
    if (registration->isPipeline()) {
      std::string forModules = registration->pipeline(true);
      std::string forText = registration->pipeline(false);
      out << "  " << name << registration->summary << " [pipeline]"
          << origin << "\n      = " << forModules << "\n";
      if (forText != forModules) {
        out << "      = " << forText << "  (on IR text)\n";
      }
      continue;
    }
    std::unique_ptr<Pass> pass = registry.create(registration->name);
    out << "  " << name << registration->summary
        << (pass->kind() == PassKind::Module ? " [module pass]" : "")
        << (pass->changesNumerics() ? " [changes numerics]" : "")
        << origin << "\n";
    for (const OptionBase* option : pass->options()) {
      out << "      " << option->name() << "=<" << option->typeName() << "> (default: "
          << (option->valueText().empty() ? "''" : option->valueText()) << ")  " << option->description() << "\n";
    }
  }
}

std::set<std::string> checkedPassNames(const std::vector<std::string>& names, const std::string& flag,
                                       const PassRegistry& registry) {
  for (const std::string& name : names) {
    if (name == "all") {
      continue;
    }
    const PassRegistration* registration = registry.find(name);
    if (registration == nullptr) {
      std::string nearest = registry.nearestName(name);
      throw Error(ErrorKind::Usage, flag + ": unknown pass '" + name + "'" +
                                        (nearest.empty() ? "" : "; did you mean '" + nearest + "'?"));
    }
    if (registration->isPipeline()) {
      throw Error(ErrorKind::Usage, flag + ": '" + name + "' is a pipeline; name one of its passes");
    }
  }
  return std::set<std::string>(names.begin(), names.end());
}

Instrumentation instrumentationFrom(const DriverOptions& options, const PassRegistry& registry) {
  Instrumentation instrumentation;
  instrumentation.printBefore = checkedPassNames(options.printBefore, "--print-ir-before", registry);
  instrumentation.printAfter = checkedPassNames(options.printAfter, "--print-ir-after", registry);
  instrumentation.debugOnly = checkedPassNames(options.debugOnly, "--debug-only", registry);
  instrumentation.printAfterChange = options.printAfterChange;
  instrumentation.verifyEach = options.verifyEach;
  instrumentation.timePasses = options.timePasses;
  return instrumentation;
}

std::vector<std::unique_ptr<Pass>> pipelineFrom(const DriverOptions& options, const PassRegistry& registry,
                                                bool hasModule) {
  if (options.passes) {
    return buildPipeline(*options.passes, registry, "--passes", hasModule);
  }
  if (options.level.value_or(0) == 0) {
    return {};
  }
  return buildPipeline(levelPipelineName(*options.level), registry, "-O" + std::to_string(*options.level),
                       hasModule);
}

void verifyResult(const IRUnit& unit) {
  if (auto issue = verifyGraph(unit.graph)) {
    throw Error(ErrorKind::PassFailure, "verifier failed on the pipeline's result: " + issue->message);
  }
}

// --calibration-data fills the calibration-data option of every pass that has
// one and was not given its own file.
void giveCalibrationData(PassManager& manager, const std::string& path, std::ostream& err) {
  bool used = false;
  for (const std::unique_ptr<Pass>& pass : manager.passes()) {
    OptionBase* option = pass->findOption("calibration-data");
    if (option == nullptr) {
      continue;
    }
    used = true;
    if (option->valueText().empty()) {
      std::string error;
      option->parse(path, error);
    }
  }
  if (!used) {
    err << "tsopt: warning: --calibration-data is unused: no pass of the pipeline calibrates (add calibrate)\n";
  }
}

struct Session {
  const DriverOptions& options;
  const PassRegistry& registry;
  std::string pipelineText;
  std::ostream& err;
  std::string equivalenceInputs;  ///< Inputs file --check-equivalence used, if any.
};

using UnitFactory = std::function<IRUnit()>;

IRUnit unitForMethod(const LoadedInput& input, const std::string& method) {
  try {
    return IRUnit::fromModule(*input.module, method);
  } catch (const Error& error) {
    throw Error(error.kind(), input.path + ": " + error.what());
  }
}

std::string passTextAt(const Session& session, size_t index) {
  std::vector<std::unique_ptr<Pass>> passes = buildPipeline(session.pipelineText, session.registry);
  std::vector<std::unique_ptr<Pass>> single;
  single.push_back(std::move(passes.at(index)));
  return printPipeline(single);
}

void reportReproducer(const Session& session, size_t passIndex, const std::string& passText,
                      const std::string& reason, const UnitFactory& freshUnit, bool mismatch,
                      std::optional<double> minCosine = std::nullopt) {
  IRUnit before = unitBeforePass(session.pipelineText, session.registry, passIndex, freshUnit);
  ReproducerRequest request;
  request.directory = *session.options.reproducerDir;
  request.unitBeforePass = &before;
  request.passText = passText;
  request.pipelineText = session.pipelineText;
  request.passIndex = passIndex;
  request.reason = reason;
  request.equivalenceCheck = mismatch;
  request.minCosine = minCosine;
  if (mismatch && !session.equivalenceInputs.empty()) {
    request.equivalenceInputs = session.equivalenceInputs;
  }
  for (const std::string& plugin : session.options.plugins) {
    char* resolved = realpath(plugin.c_str(), nullptr);
    request.plugins.push_back(resolved != nullptr ? resolved : plugin);
    free(resolved);
  }
  session.err << "tsopt: reproducer written to " << writeReproducer(request) << "\n";
}

// Runs the pipeline; when a pass fails and --reproducer is set, writes the IR
// before that pass as a lit test first.
void runPipeline(const Session& session, PassManager& manager, IRUnit& unit, const UnitFactory& freshUnit) {
  try {
    manager.run(unit);
    verifyResult(unit);
  } catch (const Error& error) {
    if (session.options.reproducerDir && manager.failedPass()) {
      size_t index = *manager.failedPass();
      reportReproducer(session, index, passTextAt(session, index), error.what(), freshUnit, false);
    }
    throw;
  }
}

struct EquivalenceSetup {
  torch::jit::Module reference;
  InputSets inputs;
  ToleranceOverride tolerance;
  std::string inputsPath;  ///< Empty when the inputs were synthesized.
};

// Inputs: the file given; else MODEL.inputs.pt next to MODEL.pt (what the
// model zoo writes); else made from the input types the graph recorded.
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
  if (inputsPath.empty() && options.calibrationData) {
    inputsPath = *options.calibrationData;
    err << "tsopt: equivalence: using the calibration inputs in " << inputsPath << "\n";
  }
  setup.inputs = inputsPath.empty() ? synthesizeInputs(setup.reference, options.method) : loadInputSets(inputsPath);
  setup.inputsPath = inputsPath;
  return setup;
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
[[noreturn]] void failCheck(Session& session, const UnitFactory& freshUnit, const FailureProbe& failureOf,
                            const std::string& reason, std::optional<double> minCosine) {
  const DriverOptions& options = session.options;
  std::optional<size_t> culprit;
  std::string culpritText = session.pipelineText;
  if (options.bisect) {
    BisectResult result = bisectPipeline(session.pipelineText, session.registry, freshUnit, failureOf);
    session.err << "tsopt: bisect: " << result.runs << " runs\n";
    if (result.badPass) {
      culprit = result.badPass;
      culpritText = result.badPassText;
      session.err << "tsopt: bisect: first bad pass: #" << *result.badPass + 1 << " '" << result.badPassText
                  << "' (" << result.failure << ")\n";
      if (result.badRewrite) {
        session.err << "tsopt: bisect: first bad rewrite: #" << *result.badRewrite << " of that pass: "
                    << result.badRewriteDescription << "\n";
      }
    } else {
      session.err << "tsopt: bisect: no prefix of the pipeline fails on its own (non-deterministic pass?)\n";
    }
  }
  if (options.reproducerDir) {
    reportReproducer(session, culprit.value_or(0), culpritText, reason, freshUnit, true, minCosine);
  }
  throw Error(ErrorKind::PassFailure, reason);
}

// Compares the optimized module with a fresh load of the input; on a mismatch
// bisects and writes a reproducer when asked, then fails the run.
void checkResult(Session& session, EquivalenceSetup& setup, IRUnit& unit, const UnitFactory& freshUnit) {
  const DriverOptions& options = session.options;
  session.equivalenceInputs = setup.inputsPath;
  EquivalenceReport report =
      checkEquivalence(setup.reference, *unit.module, options.method, setup.inputs, setup.tolerance);
  printEquivalenceReport(report, setup.inputs.size(), session.err);
  if (report.equivalent) {
    return;
  }
  auto failureOf = [&](IRUnit& candidate) -> std::optional<std::string> {
    EquivalenceReport probe =
        checkEquivalence(setup.reference, *candidate.module, options.method, setup.inputs, setup.tolerance);
    return probe.equivalent ? std::nullopt : std::optional<std::string>(probe.failure);
  };
  failCheck(session, freshUnit,
            failureOf, "the optimized module's outputs differ from the original's: " + report.failure, std::nullopt);
}

std::vector<std::string> numericsChangingPasses(const PassManager& manager) {
  std::vector<std::string> names;
  for (const std::unique_ptr<Pass>& pass : manager.passes()) {
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

// Enough digits that a floor like 0.9999999 does not print as 1.
std::string precise(double value) {
  std::ostringstream text;
  text << std::setprecision(10) << value;
  return text.str();
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
      return leaf.path + ": cosine " + precise(leaf.cosine) + " is below --min-cosine=" + precise(*minCosine);
    }
  }
  return std::nullopt;
}

// The check for pipelines that change numerics on purpose: an accuracy report,
// failing only on a broken program or below --min-cosine.
void checkAccuracy(Session& session, EquivalenceSetup& setup, IRUnit& unit, const UnitFactory& freshUnit,
                   const std::string& why) {
  const DriverOptions& options = session.options;
  session.equivalenceInputs = setup.inputsPath;
  AccuracyReport report = measureAccuracy(setup.reference, *unit.module, options.method, setup.inputs);
  printAccuracyReport(report, setup.inputs.size(), why, session.err);
  std::optional<std::string> failure = belowMinCosine(report, options.minCosine);
  if (!failure) {
    if (options.minCosine) {
      session.err << "tsopt: accuracy: worst cosine " << precise(report.worstCosine()) << " >= --min-cosine="
                  << precise(*options.minCosine) << "\n";
    }
    return;
  }
  auto failureOf = [&](IRUnit& candidate) {
    return belowMinCosine(measureAccuracy(setup.reference, *candidate.module, options.method, setup.inputs),
                          options.minCosine);
  };
  failCheck(session, freshUnit, failureOf, "the optimized module is not accurate enough: " + *failure,
            options.minCosine);
}

int run(const DriverOptions& options, std::ostream& out, std::ostream& err) {
  PassRegistry& registry = PassRegistry::global();
  for (const std::string& plugin : options.plugins) {
    loadPassPlugin(plugin, registry);
  }
  if (options.help) {
    out << driverUsage();
    return 0;
  }
  if (options.version) {
    out << "tsopt " << TSOPT_VERSION << " (LibTorch " << TORCH_VERSION << ")\n";
    return 0;
  }
  if (options.listPasses) {
    listPasses(registry, out);
    return 0;
  }
  Instrumentation instrumentation = instrumentationFrom(options, registry);
  pipelineFrom(options, registry, true);  // Report pipeline errors before reading the input.
  bool writesArchive = hasSuffix(options.output, ".pt");

  LoadedInput input = loadInput(options.input, options.splitInputFile);
  if (writesArchive && !input.module) {
    throw Error(ErrorKind::Usage, options.output + ": a .pt output needs a TorchScript archive input");
  }
  if (options.checkEquivalence && !input.module) {
    throw Error(ErrorKind::Usage, "--check-equivalence needs a TorchScript archive input, not IR text");
  }
  PassManager manager(instrumentation, err);
  manager.addPasses(pipelineFrom(options, registry, input.module.has_value()));
  if (options.calibrationData) {
    giveCalibrationData(manager, *options.calibrationData, err);
  }
  Session session{options, registry, printPipeline(manager.passes()), err, ""};
  if (options.dumpPassPipeline) {
    err << "# pipeline: " << session.pipelineText << "\n";
  }

  std::string text;
  if (input.module) {
    auto freshUnit = [&] { return IRUnit::fromModule(input.freshModule(), options.method); };
    IRUnit unit = unitForMethod(input, options.method);
    std::optional<EquivalenceSetup> equivalence;
    if (options.checkEquivalence) {
      equivalence = prepareEquivalence(options, input, err);
    }
    runPipeline(session, manager, unit, freshUnit);
    if (equivalence) {
      std::vector<std::string> changing = numericsChangingPasses(manager);
      if (!changing.empty() || options.minCosine) {
        std::string why;
        for (const std::string& name : changing) {
          why += (why.empty() ? "" : ", ") + name;
        }
        why = why.empty() ? "--min-cosine" : why + (changing.size() == 1 ? " changes" : " change") + " numerics";
        checkAccuracy(session, *equivalence, unit, freshUnit, why);
      } else {
        checkResult(session, *equivalence, unit, freshUnit);
      }
    }
    if (writesArchive) {
      saveModuleAtomically(options.output, *unit.module);
    } else {
      text = unit.graph->toString(false);
    }
  } else {
    for (size_t index = 0; index < input.cases.size(); ++index) {
      std::shared_ptr<torch::jit::Graph> original = input.cases[index].graph->copy();
      auto freshUnit = [&] { return IRUnit::fromGraph(original->copy()); };
      IRUnit unit = IRUnit::fromGraph(input.cases[index].graph);
      runPipeline(session, manager, unit, freshUnit);
      text += (index == 0 ? "" : std::string(kSplitMarker) + "\n") + unit.graph->toString(false);
    }
  }
  if (!writesArchive) {
    if (options.output == "-") {
      out << text << std::flush;
    } else {
      writeTextAtomically(options.output, text);
    }
  }
  if (options.timePasses) {
    manager.printTimingReport(err);
  }
  if (options.stats) {
    manager.printStatistics(err);
  }
  return 0;
}

} // namespace

int runTsopt(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return runReportingErrors("tsopt", err, [&] { return run(parseDriverOptions(args), out, err); },
                            ErrorKind::PassFailure);
}

int tsoptMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return runTsopt(args, std::cout, std::cerr);
}

} // namespace tsopt
