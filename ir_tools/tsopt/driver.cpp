#include "ir_tools/tsopt/driver.h"

#include "ir_tools/common/command_line.h"
#include "ir_tools/common/input_file.h"
#include "ir_tools/common/output_file.h"
#include "ir_tools/tsopt/checks.h"
#include "ir_tools/tsopt/coverage_report.h"
#include "ir_tools/tsopt/driver_options.h"
#include "ir_tools/tsopt/module_optimizer.h"
#include "ir_tools/tsopt/node_diff.h"
#include "ir_tools/tsopt/parsed_pipeline.h"
#include "ir_tools/tsopt/remark_output.h"
#include "ir_tools/tsopt/sensitivity.h"
#include "passes/core/error.h"
#include "passes/core/input_sets.h"
#include "passes/core/pass_manager.h"
#include "passes/core/plugin.h"
#include "passes/core/registry.h"
#include "passes/core/string_utils.h"
#include "runtime/load_cuda_kernels.h"

#include <ATen/Context.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <iostream>
#include <set>

namespace tsopt {
namespace {

void listPasses(const PassRegistry& registry, std::ostream& out) {
  out << "Available passes:\n";
  for (const PassRegistration* registration : registry.all()) {
    // Names pad to a column of 24; a longer one keeps one space before its summary.
    std::string name = registration->name;
    name.resize(std::max<size_t>(name.size() + 1, 24), ' ');
    std::string origin = registration->origin == "built-in" ? "" : " [from " + registration->origin + "]";
    if (registration->isPipeline()) {
      std::string forModules = registration->pipeline(true);
      std::string forText = registration->pipeline(false);
      out << "  " << name << registration->summary << " [pipeline]" << origin << "\n      = " << forModules << "\n";
      if (forText != forModules) {
        out << "      = " << forText << "  (on IR text)\n";
      }
      continue;
    }
    std::unique_ptr<Pass> pass = registry.create(registration->name);
    out << "  " << name << registration->summary << (pass->kind() == PassKind::Module ? " [module pass]" : "")
        << (pass->changesNumerics() ? " [changes numerics]" : "") << origin << "\n";
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
  instrumentation.trackMemory = options.trackMemory;
  return instrumentation;
}

/// The pipeline of --passes or -O<level>. Named pipelines (the levels among
/// them) expand by input: bare graphs get no module passes.
ParsedPipeline pipelineFor(const DriverOptions& options, const PassRegistry& registry, bool hasModule) {
  if (options.passes) {
    return ParsedPipeline::parse(*options.passes, registry, "--passes", hasModule);
  }
  return parseLevelPipeline(options.level.value_or(0), registry, hasModule);
}

// --calibration-data fills the calibration inputs of every pass that
// calibrates and was not given its own file; the sensitivity analysis runs on
// them too (`measured`).
void giveCalibrationData(ParsedPipeline& pipeline, const std::string& path, bool measured, std::ostream& err) {
  if (!pipeline.setDefaultCalibrationData(path) && !measured) {
    err << "tsopt: warning: --calibration-data is unused: no pass of the pipeline calibrates (add calibrate)\n";
  }
}

IRUnit unitForMethod(const LoadedInput& input, const std::string& method) {
  try {
    return IRUnit::fromModule(*input.module, method);
  } catch (const Error& error) {
    throw Error(error.kind(), input.path + ": " + error.what());
  }
}

/// --example-inputs: the first input tuple of the file.
ExampleInputs exampleFrom(const std::string& path, std::optional<c10::Device> device) {
  std::vector<c10::IValue> example = loadInputSets(path).front();
  return {device ? toDevice(InputSets{example}, *device).front() : example, path, "--example-inputs"};
}

/// The -Rpass family, checked before the input is read.
RemarkFilter remarkFilterFrom(const DriverOptions& options) {
  RemarkFilter filter;
  const std::pair<RemarkKind, const std::optional<std::string>*> patterns[] = {
      {RemarkKind::Passed, &options.remarksPassed},
      {RemarkKind::Missed, &options.remarksMissed},
      {RemarkKind::Analysis, &options.remarksAnalysis}};
  for (const auto& [kind, pattern] : patterns) {
    if (*pattern) {
      filter.setPattern(kind, remarkFlag(kind), **pattern);
    }
  }
  return filter;
}

/// Op counts before and after the pipeline, summed over the graphs of a run.
struct CoverageCounts {
  OpCounts before;
  OpCounts after;

  void add(const torch::jit::Graph& original, const torch::jit::Graph& optimized) {
    for (const auto& [kind, count] : countOps(original)) {
      before[kind] += count;
    }
    for (const auto& [kind, count] : countOps(optimized)) {
      after[kind] += count;
    }
  }
};

std::shared_ptr<torch::jit::Graph> inlinedGraph(torch::jit::Module& module, const std::string& method) {
  std::shared_ptr<torch::jit::Graph> graph = module.get_method(method).graph()->copy();
  torch::jit::Inline(*graph);
  return graph;
}

/// --report=coverage of an archive: op counts of the original and the
/// optimized method, inlined, and with --example-inputs their FLOPs.
CoverageReport moduleCoverage(const DriverOptions& options, const LoadedInput& input, IRUnit& unit,
                              const std::vector<Remark>& remarks) {
  torch::jit::Module original = input.freshModule();
  std::shared_ptr<torch::jit::Graph> originalGraph = inlinedGraph(original, options.method);
  std::shared_ptr<torch::jit::Graph> optimizedGraph = inlinedGraph(*unit.module, options.method);
  CoverageCounts counts;
  counts.add(*originalGraph, *optimizedGraph);
  CoverageReport report = coverageReport(counts.before, counts.after, remarks);
  if (options.exampleInputs) {
    std::vector<c10::IValue> example = exampleFrom(*options.exampleInputs, input.device).arguments;
    report.flops = FlopCount{measureFlops(original, originalGraph, example),
                             measureFlops(*unit.module, optimizedGraph, example)};
  }
  return report;
}

void writeCoverage(const DriverOptions& options, const CoverageReport& report, std::ostream& err) {
  std::string text = *options.report == "coverage-json" ? coverageJson(report) : coverageText(report);
  if (options.reportFile) {
    writeTextAtomically(*options.reportFile, text);
  } else {
    err << text;
  }
}

/// --device: the device the archive is loaded onto. A GPU needs the runtime's
/// CUDA kernels (and with them LibTorch's CUDA library) and a device to run on.
std::optional<c10::Device> loadDevice(const DriverOptions& options) {
  if (!options.device) {
    return std::nullopt;
  }
  c10::Device device(*options.device);
  if (device.is_cuda()) {
    std::string flag = "--device=" + *options.device;
    std::string why;
    if (!runtime::loadCudaKernels(&why)) {
      throw Error(ErrorKind::Usage, flag + ": " + why);
    }
    if (!at::hasCUDA()) {
      throw Error(ErrorKind::Usage, flag + ": no CUDA device is available on this machine");
    }
    if (device.has_index() && static_cast<size_t>(device.index()) >= at::getNumGPUs()) {
      throw Error(ErrorKind::Usage, flag + ": this machine has " + std::to_string(at::getNumGPUs()) +
                                        " CUDA device(s)");
    }
  }
  return device;
}

/// --per-node: the drift of every matched intermediate value, before the
/// output check, which may fail the run.
void reportPerNodeDrift(const CheckContext& checks, EquivalenceSetup& setup, IRUnit& unit) {
  const DriverOptions& options = checks.options;
  NodeDiffReport report =
      diffNodes(setup.reference, *unit.module, options.method, setup.inputs, setup.tolerance, options.minCosine);
  printNodeDiff(report, static_cast<size_t>(options.perNodeRows), checks.err);
  if (options.perNodeReport) {
    writeOutput(*options.perNodeReport, nodeDiffJson(report), checks.err);
  }
}

/// Optimizes the archive's method, checking the result when asked; returns
/// the optimized unit.
IRUnit optimizeModule(const CheckContext& checks, PassManager& manager, const LoadedInput& input) {
  const DriverOptions& options = checks.options;
  IRUnit unit = unitForMethod(input, options.method);
  std::optional<ExampleInputs> example;
  if (options.exampleInputs) {
    example = exampleFrom(*options.exampleInputs, input.device);
  }
  // Bisection reruns the pipeline on fresh copies: they carry the same types.
  auto freshUnit = [&] {
    IRUnit fresh = IRUnit::fromModule(input.freshModule(), options.method);
    if (example) {
      specializeUnitInputs(fresh, *example);
    }
    return fresh;
  };
  std::optional<EquivalenceSetup> equivalence;
  if (options.checkEquivalence) {
    equivalence = prepareEquivalence(options, input, checks.err);
  }
  optimizeMethod(checks, manager, unit, freshUnit, example);
  if (equivalence && options.perNode) {
    reportPerNodeDrift(checks, *equivalence, unit);
  }
  if (equivalence) {
    checkOptimizedModule(checks, *equivalence, unit, freshUnit);
  }
  return unit;
}

/// Optimizes each graph of IR text; returns their IR, split as the input was.
/// `remarks` (may be null) learns where each graph starts; `counts` gets each
/// graph's op counts before and after.
std::string optimizeGraphs(const CheckContext& checks, PassManager& manager, const LoadedInput& input,
                           RemarkCollector* remarks, CoverageCounts& counts) {
  std::string text;
  for (size_t index = 0; index < input.cases.size(); ++index) {
    std::shared_ptr<torch::jit::Graph> original = input.cases[index].graph->copy();
    auto freshUnit = [&] { return IRUnit::fromGraph(original->copy()); };
    IRUnit unit = IRUnit::fromGraph(input.cases[index].graph);
    if (remarks != nullptr) {
      remarks->setFirstLine(input.cases[index].firstLine);
    }
    runPipeline(checks, manager, unit, freshUnit);
    counts.add(*original, *unit.graph);
    text += (index == 0 ? "" : std::string(kSplitMarker) + "\n") + unit.graph->toString(false);
  }
  return text;
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
    out << versionLine("tsopt");
    return 0;
  }
  if (options.listPasses) {
    listPasses(registry, out);
    return 0;
  }
  Instrumentation instrumentation = instrumentationFrom(options, registry);
  RemarkFilter remarkFilter = remarkFilterFrom(options);
  std::optional<RemarkFormat> remarksFormat;
  if (options.remarksFile) {
    remarksFormat = remarkFormatFor(options.remarksFormat, *options.remarksFile);
  }
  // The pipeline is parsed before the input is read, so its errors come first,
  // and again for IR text, whose named pipelines expand without module passes.
  ParsedPipeline pipeline = pipelineFor(options, registry, /*hasModule=*/true);
  bool writesArchive = hasSuffix(options.output, ".pt");

  InputLimits limits;
  limits.maxBytes = options.maxInputSize.value_or(limits.maxBytes);
  // A traced archive's identical module classes load as one (faster, smaller)
  // when the pipeline freezes first: freezing inlines the submodules, so no
  // pass sees a class that several instances share. Passes that change a
  // submodule's attributes (insert-observers adds observers, folding adds a
  // bias) need a class per instance.
  const bool freezesFirst = pipeline.size() > 0 && pipeline.passes().front()->name() == "freeze";
  LoadedInput input = loadInput(options.input, options.splitInputFile, loadDevice(options), limits,
                                freezesFirst && !options.keepModuleClasses ? ModuleClasses::Merged
                                                                           : ModuleClasses::AsSaved);
  if (writesArchive && !input.module) {
    throw Error(ErrorKind::Usage, options.output + ": a .pt output needs a TorchScript archive input");
  }
  if (options.exampleInputs && !input.module) {
    throw Error(ErrorKind::Usage, "--example-inputs needs a TorchScript archive input; IR text spells its input types");
  }
  if (options.device && !input.module) {
    throw Error(ErrorKind::Usage, "--device needs a TorchScript archive input; IR text has no tensors to move");
  }
  if (options.perNode && !input.module) {
    throw Error(ErrorKind::Usage, "--per-node needs a TorchScript archive input: IR text has no weights to run");
  }
  if (options.checkEquivalence && !input.module) {
    throw Error(ErrorKind::Usage, "--check-equivalence needs a TorchScript archive input, not IR text");
  }
  if (!input.module) {
    pipeline = pipelineFor(options, registry, /*hasModule=*/false);
  }
  bool analyzesSensitivity = options.sensitivity || options.autoKeepFloat;
  if (options.calibrationData) {
    giveCalibrationData(pipeline, *options.calibrationData, analyzesSensitivity, err);
  }
  if (analyzesSensitivity) {
    runSensitivityAnalysis(options, pipeline, input, err);
  }
  if (options.dumpPassPipeline) {
    err << "# pipeline: " << pipeline.text() << "\n";
  }

  std::optional<RemarkCollector> remarks;
  if (!remarkFilter.empty() || options.remarksFile || options.report) {
    remarks.emplace(std::move(remarkFilter), options.input == "-" ? "<stdin>" : options.input, !input.module, err);
    instrumentation.remarks = remarks->handler();
  }
  PassManager manager(instrumentation, err);
  manager.addPasses(pipeline.instantiate());
  CheckContext checks{options, pipeline, err};
  std::optional<CoverageReport> coverage;
  if (input.module) {
    IRUnit unit = optimizeModule(checks, manager, input);
    if (options.report) {
      coverage = moduleCoverage(options, input, unit, remarks->remarks());
    }
    if (writesArchive) {
      torch::jit::ExtraFilesMap extraFiles;
      if (auto record = quantizationRecordFor(manager.passes(), *unit.module, input.quantization)) {
        extraFiles[kQuantizationRecordFile] = record->toJson();
      }
      saveModuleAtomically(options.output, *unit.module, extraFiles);
    } else {
      writeOutput(options.output, unit.graph->toString(false), out);
    }
  } else {
    CoverageCounts counts;
    writeOutput(options.output, optimizeGraphs(checks, manager, input, remarks ? &*remarks : nullptr, counts), out);
    if (options.report) {
      coverage = coverageReport(counts.before, counts.after, remarks->remarks());
    }
  }
  if (options.remarksFile) {
    const std::vector<Remark>& all = remarks->remarks();
    writeTextAtomically(*options.remarksFile,
                        *remarksFormat == RemarkFormat::Json ? remarksJson(all) : remarksYaml(all));
  }
  if (coverage) {
    writeCoverage(options, *coverage, err);
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
