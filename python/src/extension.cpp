//===- extension.cpp - tsopt._C: the Python API's bindings ----------------===//
///
/// Thin: every function calls the library the tsopt driver runs on (registry,
/// pipeline parsing, module_optimizer.h, equivalence.h, plugins); the Python
/// side (python/tsopt/__init__.py) checks argument types and builds the report
/// objects. Modules cross as torch::jit::Module, the object behind a Python
/// ScriptModule's `_c`; input tuples cross as torch.save bytes, read as the
/// driver reads its input files (input_sets.h). A tsopt::Error becomes the
/// Python class of its kind (tsopt/_errors.py) with the driver's message.
///
//===----------------------------------------------------------------------===//
#include "ir_tools/tsopt/equivalence.h"
#include "ir_tools/tsopt/module_optimizer.h"
#include "passes/builtin/builtin_passes.h"
#include "passes/core/error.h"
#include "passes/core/input_sets.h"
#include "passes/core/plugin.h"
#include "passes/core/registry.h"
#include "runtime/load_cuda_kernels.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/api/module.h>

#include <sstream>

namespace py = pybind11;

namespace tsopt {
namespace {

const char* pythonClassOf(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::Usage:
    return "UsageError";
  case ErrorKind::Input:
    return "InputError";
  case ErrorKind::PassFailure:
    return "PassFailure";
  case ErrorKind::Output:
    return "OutputError";
  }
  return "Error";
}

void raiseTsoptError(ErrorKind kind, const std::string& message) {
  py::object type = py::module_::import("tsopt._errors").attr(pythonClassOf(kind));
  PyErr_SetObject(type.ptr(), py::str(message).ptr());
}

// Local to this module: only what its own functions throw. LibTorch's errors
// read as the driver's internal errors do.
void translateErrors(std::exception_ptr thrown) {
  try {
    std::rethrow_exception(thrown);
  } catch (const Error& error) {
    raiseTsoptError(error.kind(), error.what());
  } catch (const c10::Error& error) {
    raiseTsoptError(ErrorKind::PassFailure, "internal error: " + firstLine(error.what()));
  }
}

InputSets inputSetsFrom(const py::bytes& pickled, const std::string& origin) {
  std::string bytes = pickled;
  return parseInputSets(origin, std::vector<char>(bytes.begin(), bytes.end()));
}

py::list listPasses() {
  PassRegistry& registry = PassRegistry::global();
  py::list passes;
  for (const PassRegistration* registration : registry.all()) {
    py::dict entry;
    entry["name"] = registration->name;
    entry["summary"] = registration->summary;
    entry["origin"] = registration->origin;
    py::list options;
    if (registration->isPipeline()) {
      entry["kind"] = "pipeline";
      entry["changes_numerics"] = false;
      entry["pipeline"] = registration->pipeline(true);
    } else {
      std::unique_ptr<Pass> pass = registry.create(registration->name);
      entry["kind"] = pass->kind() == PassKind::Module ? "module" : "graph";
      entry["changes_numerics"] = pass->changesNumerics();
      entry["pipeline"] = py::none();
      for (const OptionBase* option : pass->options()) {
        options.append(py::make_tuple(option->name(), option->typeName(), option->valueText(), option->description()));
      }
    }
    entry["options"] = options;
    passes.append(entry);
  }
  return passes;
}

/// Optimizes a clone of `module`'s method as `tsopt MODEL.pt` does; returns
/// the clone and what the run printed (notes, debug output).
py::tuple optimize(const torch::jit::Module& module, const std::string& pipelineSpec,
                   const std::optional<py::bytes>& exampleInputs, const std::string& method, bool verifyEach) {
  std::optional<ExampleInputs> example;
  if (exampleInputs) {
    example = ExampleInputs{inputSetsFrom(*exampleInputs, "example_inputs").front(), "example_inputs",
                            "example_inputs"};
  }
  std::ostringstream log;
  IRUnit unit;
  {
    py::gil_scoped_release released;
    ParsedPipeline pipeline = parsePipelineSpec(pipelineSpec, PassRegistry::global(), "pipeline");
    DriverOptions options;
    options.method = method;
    Instrumentation instrumentation;
    instrumentation.verifyEach = verifyEach;
    PassManager manager(instrumentation, log);
    manager.addPasses(pipeline.instantiate());
    CheckContext context{options, pipeline, log};
    unit = IRUnit::fromModule(module.clone(), method);
    auto freshUnit = [&] { return IRUnit::fromModule(module.clone(), method); };
    optimizeMethod(context, manager, unit, freshUnit, example);
  }
  return py::make_tuple(*unit.module, log.str());
}

py::dict leafDict(const LeafComparison& leaf) {
  py::dict entry;
  entry["path"] = leaf.path;
  entry["description"] = leaf.description;
  entry["matches"] = leaf.matches;
  entry["same_structure"] = leaf.sameStructure;
  entry["max_abs_error"] = leaf.maxAbsError;
  entry["max_rel_error"] = leaf.maxRelError;
  entry["cosine"] = leaf.cosine;
  entry["problem"] = leaf.problem;
  return entry;
}

/// Equivalence within tolerances, or (`accuracy`) the accuracy report of a
/// pipeline that changes numerics on purpose.
py::dict checkModules(torch::jit::Module reference, torch::jit::Module candidate, const py::bytes& inputs,
                      const std::string& method, std::optional<double> rtol, std::optional<double> atol,
                      bool accuracy, size_t callsPerSet) {
  InputSets sets = inputSetsFrom(inputs, "inputs");
  bool passed = false;
  size_t calls = 0;
  std::string failure;
  std::vector<LeafComparison> leaves;
  {
    py::gil_scoped_release released;
    if (accuracy) {
      AccuracyReport report = measureAccuracy(reference, candidate, method, sets, callsPerSet);
      std::tie(passed, calls, failure, leaves) = std::tie(report.ok, report.calls, report.failure, report.leaves);
    } else {
      EquivalenceReport report = checkEquivalence(reference, candidate, method, sets, {rtol, atol}, callsPerSet);
      std::tie(passed, calls, failure, leaves) =
          std::tie(report.equivalent, report.calls, report.failure, report.leaves);
    }
  }
  py::dict result;
  result["passed"] = passed;
  result["calls"] = calls;
  result["input_sets"] = sets.size();
  result["failure"] = failure;
  py::list outputs;
  for (const LeafComparison& leaf : leaves) {
    outputs.append(leafDict(leaf));
  }
  result["outputs"] = outputs;
  return result;
}

} // namespace
} // namespace tsopt

PYBIND11_MODULE(_C, m) {
  m.doc() = "tsopt's C++ library, bound for the tsopt package (use the functions of `tsopt`)";
  tsopt::registerBuiltinPasses();
  py::register_local_exception_translator(tsopt::translateErrors);
  m.def("runtime_library_path", &tsopt::runtime::runtimeLibraryPath);
  m.def("list_passes", &tsopt::listPasses);
  m.def("load_pass_plugin",
        [](const std::string& path) { return tsopt::loadPassPlugin(path, tsopt::PassRegistry::global()); });
  m.def("optimize", &tsopt::optimize);
  m.def("check_modules", &tsopt::checkModules);
}
