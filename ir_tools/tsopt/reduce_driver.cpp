#include "ir_tools/tsopt/reduce_driver.h"

#include "ir_tools/common/command_line.h"
#include "ir_tools/common/input_file.h"
#include "ir_tools/common/output_file.h"
#include "ir_tools/tsopt/equivalence.h"
#include "passes/builtin/levels.h"
#include "passes/core/error.h"
#include "passes/core/input_sets.h"
#include "passes/core/pass_manager.h"
#include "passes/core/plugin.h"
#include "passes/core/registry.h"
#include "passes/core/verifier.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/shape_analysis.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace tsopt {
namespace {

constexpr const char* kVerifierPrefix = "verifier failed after pass '";

/// Complete types for the values that follow from the inputs' where
/// PyTorch's shape analysis can tell; a graph it fails on keeps its types.
void propagateShapes(const std::shared_ptr<torch::jit::Graph>& graph) {
  try {
    torch::jit::PropagateInputShapes(graph);
  } catch (const std::exception&) {
  }
}

struct ReduceToolOptions {
  std::string input;
  std::string output = "-";
  std::optional<std::string> passes;
  std::vector<std::string> plugins;
  std::string failure = "any";  ///< crash, verifier, any or mismatch.
  std::string match;
  std::optional<std::string> testCommand;
  std::optional<std::string> exampleInputs;
  size_t maxRounds = ReduceOptions{}.maxRounds;
  bool help = false;
  bool version = false;
};

FlagTable flags(ReduceToolOptions& o) {
  using Value = std::optional<std::string>;
  return {
      {"INTERESTINGNESS TEST (one of --passes and --test)",
       {
           {"--passes", FlagValue::Required, [&o](const Value& v) { o.passes = *v; }, "--passes=PIPELINE",
            "Interesting: this pipeline fails on the candidate as it\n"
            "fails on the input (same pass, same kind of failure)"},
           {"--failure", FlagValue::Required,
            [&o](const Value& v) {
              if (*v != "crash" && *v != "verifier" && *v != "any" && *v != "mismatch") {
                throw Error(ErrorKind::Usage, "--failure: unknown kind '" + *v +
                                                  "' (use crash, verifier, any or mismatch)");
              }
              o.failure = *v;
            },
            "--failure=KIND",
            "crash: a pass throws; verifier: a pass leaves invalid IR;\n"
            "any (default): either; mismatch: the pipeline's result\n"
            "computes other outputs (inputs made from the types)"},
           {"--match", FlagValue::Required, [&o](const Value& v) { o.match = *v; }, "--match=TEXT",
            "And the failure's message contains TEXT"},
           {"--test", FlagValue::Required, [&o](const Value& v) { o.testCommand = *v; }, "--test=CMD",
            "Interesting: the shell command 'CMD FILE' exits 0,\n"
            "FILE holding the candidate IR"},
           {"--example-inputs", FlagValue::Required, [&o](const Value& v) { o.exampleInputs = *v; },
            "--example-inputs=FILE",
            "Tensor types (sizes, dtype) of the input's inputs, from\n"
            "the first input tuple of FILE (torch.save); needed by\n"
            "--failure=mismatch on an archive"},
           {"--load-pass-plugin", FlagValue::Required, [&o](const Value& v) { o.plugins.push_back(*v); },
            "--load-pass-plugin=LIB", "Load a shared library that registers passes (repeatable)"},
       }},
      {"OUTPUT",
       {
           {"-o", FlagValue::Required, [&o](const Value& v) { o.output = *v; }, "-o FILE",
            "Write the reduced IR to FILE (default: stdout); for an\n"
            "archive, the reduced archive (required)"},
           {"--max-rounds", FlagValue::Required,
            [&o](const Value& v) {
              char* end = nullptr;
              long rounds = std::strtol(v->c_str(), &end, 10);
              if (*end != '\0' || rounds < 1) {
                throw Error(ErrorKind::Usage, "--max-rounds: expected a positive integer, got '" + *v + "'");
              }
              o.maxRounds = static_cast<size_t>(rounds);
            },
            "--max-rounds=N", "Stop after N rounds of all reductions (default: 16)"},
       }},
      {"",
       {
           {"--help", FlagValue::None, [&o](const Value&) { o.help = true; }},
           {"--version", FlagValue::None, [&o](const Value&) { o.version = true; }},
       }},
  };
}

ReduceToolOptions parseReduceOptions(const std::vector<std::string>& args) {
  ReduceToolOptions options;
  bool sawInput = false;
  parseFlags(args, flags(options), [&](const std::string& arg) {
    if (sawInput) {
      throw Error(ErrorKind::Usage, "more than one input file: '" + options.input + "' and '" + arg + "'");
    }
    options.input = arg;
    sawInput = true;
  });
  if (options.help || options.version) {
    return options;
  }
  if (!sawInput) {
    throw Error(ErrorKind::Usage, "no input file (use '-' for stdin; see --help)");
  }
  if (options.passes.has_value() == options.testCommand.has_value()) {
    throw Error(ErrorKind::Usage, "give one interestingness test: --passes=PIPELINE or --test=CMD");
  }
  bool failureGiven = std::any_of(args.begin(), args.end(),
                                  [](const std::string& arg) { return arg.rfind("--failure", 0) == 0; });
  if (options.testCommand && (failureGiven || !options.match.empty())) {
    throw Error(ErrorKind::Usage, "--failure and --match describe a pipeline's failure; --test decides alone");
  }
  return options;
}

std::string usage() {
  ReduceToolOptions unused;
  return "OVERVIEW: tsopt-reduce - shrink TorchScript IR that fails a test\n"
         "\n"
         "USAGE: tsopt-reduce INPUT (--passes=PIPELINE | --test=CMD) [options]\n"
         "  INPUT is IR text (the graph(...) syntax; '-' reads stdin) or a TorchScript\n"
         "  archive, whose forward is frozen first and reduced with its parameters as\n"
         "  constants. The input must be interesting; the output is the smallest\n"
         "  interesting graph found (an archive for an archive).\n"
         "\n" +
         flagHelp(flags(unused)) +
         "EXIT CODES:\n"
         "  0 reduced, 2 bad command line or pipeline, or a test the input does not\n"
         "  pass, 3 bad input, 4 output could not be written\n";
}

const char* kindName(FailureKind kind) { return kind == FailureKind::Crash ? "crash" : "verifier failure"; }

c10::IValue runGraph(const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& inputs) {
  torch::jit::GraphFunction function("forward", graph->copy(), nullptr);
  torch::jit::Stack stack;
  for (const c10::IValue& input : inputs) {
    stack.push_back(input.isTensor() ? c10::IValue(input.toTensor().clone()) : input);
  }
  function.run(stack);
  return stack.size() == 1 ? stack.front() : c10::ivalue::Tuple::create(stack);
}

/// A temporary folder for --test's candidates, removed with its contents.
class TemporaryDirectory {
public:
  TemporaryDirectory() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tsopt-reduce.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      throw Error(ErrorKind::Output, pattern + ": cannot create a temporary folder: " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

std::string shellQuoted(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return quoted + "'";
}

/// --example-inputs: the graph's inputs take the complete tensor types of
/// the file's first input tuple, and its other values what they imply.
void typeInputsFromExample(const std::shared_ptr<torch::jit::Graph>& graph, const std::string& path) {
  InputSets sets = loadInputSets(path);
  if (sets.empty() || sets.front().size() != graph->inputs().size()) {
    throw Error(ErrorKind::Input, path + ": --example-inputs: the first input tuple has " +
                                      std::to_string(sets.empty() ? 0 : sets.front().size()) +
                                      " values; the graph takes " + std::to_string(graph->inputs().size()));
  }
  for (size_t index = 0; index < graph->inputs().size(); ++index) {
    const c10::IValue& value = sets.front()[index];
    if (value.isTensor() && graph->inputs()[index]->type()->cast<c10::TensorType>()) {
      graph->inputs()[index]->setType(c10::TensorType::create(value.toTensor()));
    }
  }
  propagateShapes(graph);
}

/// OUT.pt -> OUT.inputs.pt: where the inputs of a reduced mismatch go.
std::string inputsFileFor(const std::string& output) {
  std::string stem = output.size() > 3 && output.compare(output.size() - 3, 3, ".pt") == 0
                         ? output.substr(0, output.size() - 3)
                         : output;
  return stem + ".inputs.pt";
}

/// An archive's forward after tsopt's `freeze`, as the graph to reduce.
std::shared_ptr<torch::jit::Graph> frozenForward(const torch::jit::Module& module, const std::string& path,
                                                 const PassRegistry& registry) {
  ParsedPipeline freeze = ParsedPipeline::parse("freeze", registry, "tsopt-reduce", /*hasModule=*/true);
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPasses(freeze.instantiate());
  IRUnit unit = IRUnit::fromModule(module.clone(), "forward");
  try {
    manager.run(unit);
  } catch (const Error& error) {
    throw Error(ErrorKind::Input, path + ": tsopt-reduce freezes an archive before reducing it, and freezing "
                                         "failed: " + error.what());
  }
  return graphOfFrozenModule(*unit.module, path);
}

int run(const ReduceToolOptions& options, std::ostream& out, std::ostream& err) {
  PassRegistry& registry = PassRegistry::global();
  for (const std::string& plugin : options.plugins) {
    loadPassPlugin(plugin, registry);
  }
  if (options.help) {
    out << usage();
    return 0;
  }
  if (options.version) {
    out << versionLine("tsopt-reduce");
    return 0;
  }
  LoadedInput input = loadInput(options.input, /*splitInputFile=*/false);
  const bool archive = input.module.has_value();
  std::optional<ParsedPipeline> pipeline;
  if (options.passes) {
    pipeline = ParsedPipeline::parse(*options.passes, registry, "--passes", /*hasModule=*/false);
    for (const auto& pass : pipeline->instantiate()) {
      if (archive && pass->kind() == PassKind::Module) {
        throw Error(ErrorKind::Usage, "pass '" + pass->name() + "' needs a module, and tsopt-reduce freezes an "
                                      "archive before the pipeline runs: leave it out of --passes");
      }
    }
  }
  if (archive && options.output == "-") {
    throw Error(ErrorKind::Usage, options.input + ": the reduced archive needs a file: give -o FILE");
  }
  if (archive && options.failure == "mismatch" && !options.exampleInputs) {
    throw Error(ErrorKind::Usage, "--failure=mismatch makes inputs from complete tensor types, which an archive "
                                  "does not keep: give --example-inputs=FILE");
  }
  std::shared_ptr<torch::jit::Graph> graph =
      archive ? frozenForward(*input.module, options.input, registry) : input.cases.front().graph;
  if (options.exampleInputs) {
    graph = graph->copy();
    typeInputsFromExample(graph, *options.exampleInputs);
  }

  std::optional<TemporaryDirectory> scratch;
  InterestingnessTest isInteresting;
  if (options.testCommand) {
    scratch.emplace();
    isInteresting = commandTest(*options.testCommand, scratch->path(), archive);
    if (!isInteresting(graph)) {
      throw Error(ErrorKind::Usage, "--test: '" + *options.testCommand + " FILE' does not exit 0 on the input; "
                                    "nothing to reduce");
    }
  } else if (options.failure == "mismatch") {
    std::string why;
    if (!pipelineMismatches(*pipeline, graph, &why)) {
      throw Error(ErrorKind::Usage, "--failure=mismatch: the pipeline's result matches the input's outputs" +
                                        (why.empty() ? std::string() : " (" + why + ")") + "; nothing to reduce");
    }
    err << "tsopt-reduce: the input mismatches: " << why << "\n";
    isInteresting = [&](const std::shared_ptr<torch::jit::Graph>& candidate) {
      return pipelineMismatches(*pipeline, candidate);
    };
  } else {
    std::optional<PipelineFailure> failure = pipelineFailure(*pipeline, graph);
    if (!failure) {
      throw Error(ErrorKind::Usage, "--passes: the pipeline does not fail on the input; nothing to reduce");
    }
    bool wanted = options.failure == "any" || (options.failure == "crash") == (failure->kind == FailureKind::Crash);
    if (!wanted || failure->message.find(options.match) == std::string::npos) {
      throw Error(ErrorKind::Usage, "the input fails, but not as asked (--failure=" + options.failure +
                                        (options.match.empty() ? "" : ", --match=" + options.match) +
                                        "): " + failure->message);
    }
    err << "tsopt-reduce: the input fails (" << kindName(failure->kind) << " in pass #" << failure->passIndex + 1
        << "): " << failure->message << "\n";
    isInteresting = sameFailureTest(*pipeline, *failure, options.match);
  }

  ReduceOptions reduceOptions;
  reduceOptions.maxRounds = options.maxRounds;
  if (archive) {
    reduceOptions.roundTrip = archiveRoundTrip;
  }
  ReduceResult result = reduceGraph(graph, isInteresting, reduceOptions);
  err << "tsopt-reduce: " << result.nodesBefore << " -> " << result.nodesAfter << " nodes (constants aside), "
      << graph->inputs().size() << " -> " << result.graph->inputs().size() << " inputs; " << result.tests
      << " tests in " << result.rounds << (result.rounds == 1 ? " round" : " rounds") << "\n";
  if (archive) {
    saveModuleAtomically(options.output, archiveOfGraph(result.graph));
    if (options.failure == "mismatch") {
      std::string inputsPath = inputsFileFor(options.output);
      writeFileAtomically(inputsPath, [&](const std::string& temp) {
        std::vector<c10::IValue> call = synthesizedInputs(*result.graph);
        std::vector<char> bytes = torch::jit::pickle_save(
            c10::ivalue::Tuple::create({c10::IValue(c10::ivalue::Tuple::create(std::move(call)))}));
        std::ofstream(temp, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      });
      err << "tsopt-reduce: the inputs it mismatches on: " << inputsPath << " (for --check-equivalence)\n";
    }
  } else {
    writeOutput(options.output, parseableGraphText(*result.graph), out);
  }
  return 0;
}


} // namespace

std::optional<PipelineFailure> pipelineFailure(const ParsedPipeline& pipeline,
                                               const std::shared_ptr<torch::jit::Graph>& graph) {
  std::ostringstream log;
  Instrumentation instrumentation;
  instrumentation.verifyEach = true;
  PassManager manager(instrumentation, log);
  manager.addPasses(pipeline.instantiate());
  IRUnit unit = IRUnit::fromGraph(graph->copy());
  try {
    manager.run(unit);
    return std::nullopt;
  } catch (const Error& error) {
    if (error.kind() == ErrorKind::Usage || !manager.failedPass()) {
      throw;
    }
    std::string message = error.what();
    FailureKind kind = message.rfind(kVerifierPrefix, 0) == 0 ? FailureKind::Verifier : FailureKind::Crash;
    return PipelineFailure{kind, *manager.failedPass(), message};
  }
}

InterestingnessTest sameFailureTest(const ParsedPipeline& pipeline, const PipelineFailure& original,
                                    const std::string& match) {
  return [&pipeline, original, match](const std::shared_ptr<torch::jit::Graph>& candidate) {
    std::optional<PipelineFailure> failure = pipelineFailure(pipeline, candidate);
    return failure && failure->kind == original.kind && failure->passIndex == original.passIndex &&
           failure->message.find(match) != std::string::npos;
  };
}

std::vector<c10::IValue> synthesizedInputs(const torch::jit::Graph& graph) {
  std::vector<c10::IValue> inputs;
  at::manual_seed(0);
  for (const torch::jit::Value* value : graph.inputs()) {
    inputs.push_back(synthesizeTensor(*value->type()->expect<c10::TensorType>(), value->debugName()));
  }
  return inputs;
}

bool pipelineMismatches(const ParsedPipeline& pipeline, const std::shared_ptr<torch::jit::Graph>& graph,
                        std::string* why) {
  for (const torch::jit::Value* value : graph->inputs()) {
    auto tensorType = value->type()->cast<c10::TensorType>();
    if (!tensorType || !tensorType->sizes().concrete_sizes() || !tensorType->scalarType()) {
      if (why != nullptr) {
        *why = "input '" + value->debugName() + "' has no complete tensor type to make a value from";
      }
      return false;
    }
  }
  std::vector<c10::IValue> inputs = synthesizedInputs(*graph);
  c10::IValue expected;
  try {
    expected = runGraph(graph, inputs);
  } catch (const std::exception&) {
    if (why != nullptr) {
      *why = "the graph itself does not run on inputs made from its types";
    }
    return false;
  }
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPasses(pipeline.instantiate());
  IRUnit unit = IRUnit::fromGraph(graph->copy());
  try {
    manager.run(unit);
  } catch (const Error& error) {
    if (why != nullptr) {
      *why = std::string("the pipeline fails: ") + error.what();
    }
    return false;
  }
  c10::IValue actual;
  try {
    actual = runGraph(unit.graph, inputs);
  } catch (const std::exception& error) {
    if (why != nullptr) {
      *why = "the optimized graph throws: " + std::string(error.what()).substr(0, 200);
    }
    return true;
  }
  for (const LeafComparison& leaf : compareOutputs(expected, actual, ToleranceOverride{})) {
    if (!leaf.matches) {
      if (why != nullptr) {
        *why = leaf.path + ": " + leaf.problem;
      }
      return true;
    }
  }
  return false;
}

std::shared_ptr<torch::jit::Graph> graphOfFrozenModule(const torch::jit::Module& module, const std::string& what) {
  auto method = module.find_method("forward");
  if (!method) {
    throw Error(ErrorKind::Input, what + ": the module has no method 'forward'");
  }
  std::shared_ptr<torch::jit::Graph> graph = method->graph()->copy();
  torch::jit::Inline(*graph);
  torch::jit::Value* self = graph->inputs().at(0);
  if (self->hasUses()) {
    throw Error(ErrorKind::Input, what + ": the frozen forward still reads the module (" +
                                      self->uses().front().user->kind().toQualString() +
                                      "); tsopt-reduce reduces archives that freeze whole");
  }
  graph->eraseInput(0);
  return graph;
}

torch::jit::Module archiveOfGraph(const std::shared_ptr<torch::jit::Graph>& graph) {
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module module("__torch__.TsoptReduced", unit, /*shouldMangle=*/false);
  std::shared_ptr<torch::jit::Graph> method = graph->copy();
  method->insertInput(0, "self")->setType(module.type());
  module.type()->addMethod(unit->create_function(c10::QualifiedName(*module.type()->name(), "forward"), method));
  return module;
}

std::shared_ptr<torch::jit::Graph> archiveRoundTrip(const std::shared_ptr<torch::jit::Graph>& candidate) {
  try {
    std::stringstream bytes;
    archiveOfGraph(candidate).save(bytes);
    std::shared_ptr<torch::jit::Graph> loaded = graphOfFrozenModule(torch::jit::load(bytes), "<candidate>");
    // The archive keeps `Tensor` for a tensor input: the candidate's own types
    // (what the reduction started from) stay.
    for (size_t index = 0; index < loaded->inputs().size() && index < candidate->inputs().size(); ++index) {
      if (candidate->inputs()[index]->type()->isSubtypeOf(*loaded->inputs()[index]->type())) {
        loaded->inputs()[index]->setType(candidate->inputs()[index]->type());
      }
    }
    // ... and the values' types follow from them, for the inputs a later
    // reduction makes of them (--failure=mismatch needs complete types).
    propagateShapes(loaded);
    return loaded;
  } catch (const std::exception&) {
    return nullptr;
  }
}

InterestingnessTest commandTest(const std::string& command, const std::string& directory, bool asArchive) {
  return [command, directory, asArchive](const std::shared_ptr<torch::jit::Graph>& candidate) {
    std::string path = directory + (asArchive ? "/candidate.pt" : "/candidate.ir");
    if (asArchive) {
      saveModuleAtomically(path, archiveOfGraph(candidate));
    } else {
      writeTextAtomically(path, parseableGraphText(*candidate));
    }
    int status = std::system((command + " " + shellQuoted(path) + " >/dev/null 2>&1").c_str());
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
}

int runTsoptReduce(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return runReportingErrors("tsopt-reduce", err, [&] { return run(parseReduceOptions(args), out, err); },
                            ErrorKind::PassFailure);
}

int tsoptReduceMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return runTsoptReduce(args, std::cout, std::cerr);
}

} // namespace tsopt
