#include "ir_tools/driver.h"

#include "ir_tools/driver_options.h"
#include "ir_tools/ir_input.h"
#include "ir_tools/output_file.h"
#include "passes/core/error.h"
#include "passes/core/levels.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/plugin.h"
#include "passes/core/registry.h"
#include "passes/core/verifier.h"

#include <torch/csrc/api/include/torch/version.h>

#include <iomanip>
#include <iostream>
#include <set>

namespace tsopt {
namespace {

bool hasSuffix(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void listPasses(const PassRegistry& registry, std::ostream& out) {
  out << "Available passes:\n";
  for (const PassRegistration* registration : registry.all()) {
    std::unique_ptr<Pass> pass = registry.create(registration->name);
    out << "  " << std::left << std::setw(24) << registration->name << registration->summary
        << (pass->kind() == PassKind::Module ? " [module pass]" : "")
        << (registration->origin == "built-in" ? "" : " [from " + registration->origin + "]") << "\n";
    for (const OptionBase* option : pass->options()) {
      out << "      " << option->name() << "=<" << option->typeName() << "> (default: "
          << (option->valueText().empty() ? "''" : option->valueText()) << ")  " << option->description() << "\n";
    }
  }
}

std::set<std::string> checkedPassNames(const std::vector<std::string>& names, const std::string& flag,
                                       const PassRegistry& registry) {
  for (const std::string& name : names) {
    if (name != "all" && registry.find(name) == nullptr) {
      std::string nearest = registry.nearestName(name);
      throw Error(ErrorKind::Usage, flag + ": unknown pass '" + name + "'" +
                                        (nearest.empty() ? "" : "; did you mean '" + nearest + "'?"));
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
    return buildPipeline(*options.passes, registry, "--passes");
  }
  std::string text = pipelineForLevel(options.level.value_or(0), hasModule);
  if (text.empty()) {
    return {};
  }
  return buildPipeline(text, registry, "-O" + std::to_string(*options.level));
}

void verifyResult(const IRUnit& unit) {
  if (auto issue = verifyGraph(unit.graph)) {
    throw Error(ErrorKind::PassFailure, "verifier failed on the pipeline's result: " + issue->message);
  }
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
    out << "tsopt 0.1.0 (LibTorch " << TORCH_VERSION << ")\n";
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
  PassManager manager(instrumentation, err);
  manager.addPasses(pipelineFrom(options, registry, input.module.has_value()));
  if (options.dumpPassPipeline) {
    err << "# pipeline: " << printPipeline(manager.passes()) << "\n";
  }

  std::string text;
  if (input.module) {
    IRUnit unit = IRUnit::fromModule(*input.module, options.method);
    manager.run(unit);
    verifyResult(unit);
    if (writesArchive) {
      saveModuleAtomically(options.output, *unit.module);
    } else {
      text = unit.graph->toString(false);
    }
  } else {
    for (size_t index = 0; index < input.cases.size(); ++index) {
      IRUnit unit = IRUnit::fromGraph(input.cases[index].graph);
      manager.run(unit);
      verifyResult(unit);
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
  try {
    return run(parseDriverOptions(args), out, err);
  } catch (const Error& error) {
    err << "tsopt: error: " << error.what() << "\n";
    return exitCodeFor(error.kind());
  } catch (const std::exception& error) {
    err << "tsopt: error: internal error: " << firstLine(error.what()) << "\n";
    return exitCodeFor(ErrorKind::PassFailure);
  }
}

int tsoptMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return runTsopt(args, std::cout, std::cerr);
}

} // namespace tsopt
