#include "ir_tools/tsopt/driver_options.h"

#include "ir_tools/common/command_line.h"
#include "passes/builtin/levels.h"
#include "passes/core/error.h"
#include "passes/core/pass.h"
#include "passes/core/string_utils.h"

#include <algorithm>
#include <regex>
#include <sstream>

namespace tsopt {
namespace {

double parseTolerance(const std::string& flag, const std::string& text) {
  std::string error;
  double value = 0;
  if (!parseOptionValue(text, value, error) || value < 0) {
    throw Error(ErrorKind::Usage, "option '" + flag + "' needs a non-negative number, got '" + text + "'");
  }
  return value;
}

double parseCosine(const std::string& flag, const std::string& text) {
  std::string error;
  double value = 0;
  if (!parseOptionValue(text, value, error) || value < -1 || value > 1) {
    throw Error(ErrorKind::Usage, "option '" + flag + "' needs a number from -1 to 1, got '" + text + "'");
  }
  return value;
}

int64_t parsePositiveCount(const std::string& flag, const std::string& text) {
  std::string error;
  int64_t value = 0;
  if (!parseOptionValue(text, value, error) || value < 1) {
    throw Error(ErrorKind::Usage, "option '" + flag + "' needs a positive integer, got '" + text + "'");
  }
  return value;
}

/// A byte count with an optional K, M or G suffix (powers of 1024).
uint64_t parseByteSize(const std::string& flag, const std::string& text) {
  static const std::regex pattern("([0-9]{1,12})([KMG]?)");
  std::smatch match;
  if (!std::regex_match(text, match, pattern)) {
    throw Error(ErrorKind::Usage, "option '" + flag + "' needs a size in bytes (e.g. 512M, 8G; 0: no limit), got '" +
                                      text + "'");
  }
  const std::string unit = match[2].str();
  const int shift = unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : 0;
  return std::stoull(match[1].str()) << shift;
}

std::string parseDevice(const std::string& text) {
  static const std::regex pattern("cpu|cuda(:[0-9]+)?");
  if (!std::regex_match(text, pattern)) {
    throw Error(ErrorKind::Usage, "option '--device' needs cpu, cuda or cuda:N, got '" + text + "'");
  }
  return text;
}

std::string parseReport(const std::string& text) {
  if (text != "coverage" && text != "coverage-json") {
    throw Error(ErrorKind::Usage, "option '--report': unknown report '" + text + "' (use coverage or coverage-json)");
  }
  return text;
}

/// The flags, writing into `o`, in the order --help lists them.
FlagTable flags(DriverOptions& o) {
  using Value = std::optional<std::string>;
  auto appendTo = [](std::vector<std::string>& target) {
    return [&target](const Value& v) {
      std::vector<std::string> items = splitList(*v);
      target.insert(target.end(), items.begin(), items.end());
    };
  };
  auto enable = [](bool& target) { return [&target](const Value&) { target = true; }; };
  return {
      {"PIPELINE",
       {
           {"--passes", FlagValue::Required, [&o](const Value& v) { o.passes = *v; }, "--passes=PIPELINE",
            "Passes to run, e.g. 'inline,freeze,dce' or\n"
            "'lower-tuples{all=true}' (see --list-passes)"},
           {"", FlagValue::None, nullptr, "-O0 .. -O" + std::to_string(kMaxOptimizationLevel),
            "Run a predefined pipeline instead of --passes"},
           {"--load-pass-plugin", FlagValue::Required, [&o](const Value& v) { o.plugins.push_back(*v); },
            "--load-pass-plugin=LIB", "Load a shared library that registers passes (repeatable)"},
           {"--list-passes", FlagValue::None, enable(o.listPasses), "",
            "List passes with their summaries and options"},
           {"--dump-pass-pipeline", FlagValue::None, enable(o.dumpPassPipeline), "",
            "Print the pipeline that will run, options spelled out"},
       }},
      {"INPUT/OUTPUT",
       {
           {"-o", FlagValue::Required, [&o](const Value& v) { o.output = *v; }, "-o FILE",
            "Write the result: FILE.pt saves the module, any\n"
            "other name gets IR text; '-' (default) is stdout"},
           {"--method", FlagValue::Required, [&o](const Value& v) { o.method = *v; }, "--method=NAME",
            "Method of a module to optimize (default: forward)"},
           {"--split-input-file", FlagValue::None, enable(o.splitInputFile), "",
            "Run each '# -----'-separated case of IR text on its own"},
           {"--max-input-size", FlagValue::Required,
            [&o](const Value& v) { o.maxInputSize = parseByteSize("--max-input-size", *v); },
            "--max-input-size=N",
            "Reject an input file over N bytes (K, M, G suffixes;\n"
            "default 4G; 0: no limit; docs/robustness.md)"},
           {"--keep-module-classes", FlagValue::None, enable(o.keepModuleClasses), "",
            "Load an archive's module classes as saved; by default,\n"
            "when the pipeline starts with freeze, classes whose\n"
            "code is identical (a traced model's per-instance\n"
            "copies) load as one (docs/scaling.md)"},
           {"--example-inputs", FlagValue::Required, [&o](const Value& v) { o.exampleInputs = *v; },
            "--example-inputs=FILE",
            "Specialize the method to the ranks, dtypes and devices\n"
            "of the first input tuple in FILE (torch.save format):\n"
            "rank-dependent folds can then fire. The result checks\n"
            "each call's inputs and raises an error on any other\n"
            "rank, dtype or device (docs/example-inputs.md)"},
           {"--device", FlagValue::Required, [&o](const Value& v) { o.device = parseDevice(*v); },
            "--device=DEVICE",
            "Load the archive's tensors onto DEVICE (cpu, cuda,\n"
            "cuda:N) before any pass, as torch.jit.load's\n"
            "map_location: optimize for the device the module will\n"
            "run on (packed weights stay there). cuda needs a\n"
            "CUDA build of tsopt and a GPU (docs/cuda.md)"},
       }},
      {"CORRECTNESS (module inputs)",
       {
           {"--check-equivalence", FlagValue::Optional,
            [&o](const Value& v) { o.checkEquivalence = v.value_or(""); }, "--check-equivalence[=INPUTS]",
            "Run the original and the optimized module twice on\n"
            "INPUTS (a list of input tuples saved with torch.save;\n"
            "default: inputs made from the traced input shapes) and\n"
            "compare every output; exit 1 on a mismatch. When a\n"
            "pass changes numerics (quantization; marked in\n"
            "--list-passes), report per output the cosine\n"
            "similarity, max abs error and top-1 agreement instead"},
           {"--min-cosine", FlagValue::Required,
            [&o](const Value& v) { o.minCosine = parseCosine("--min-cosine", *v); }, "--min-cosine=X",
            "Exit 1 when an output's cosine similarity to the\n"
            "original's is below X; implies --check-equivalence"},
           {"--rtol", FlagValue::Required, [&o](const Value& v) { o.rtol = parseTolerance("--rtol", *v); },
            "--rtol=X, --atol=X",
            "Override the per-dtype tolerances (those of\n"
            "torch.testing.assert_close)"},
           {"--atol", FlagValue::Required, [&o](const Value& v) { o.atol = parseTolerance("--atol", *v); }},
           {"--calibration-data", FlagValue::Required, [&o](const Value& v) { o.calibrationData = *v; },
            "--calibration-data=FILE",
            "Input tuples saved with torch.save that the calibrate\n"
            "pass runs (static quantization); also the inputs of\n"
            "--check-equivalence when no other inputs are found"},
           {"--sensitivity", FlagValue::Optional,
            [&o](const Value& v) {
              o.sensitivity = true;
              o.sensitivityReport = v;
            },
            "--sensitivity[=FILE.json]",
            "Before the run, measure each conv/linear layer's\n"
            "int8 sensitivity: rerun the quantization pipeline\n"
            "with only that layer int8, and with only that layer\n"
            "float32 (2N+2 runs for N layers), and print the\n"
            "output cosines, worst layer first; FILE.json gets\n"
            "them too. Needs --calibration-data and a pipeline\n"
            "with insert-observers or quantize-dynamic"},
           {"--sensitivity-inputs", FlagValue::Required,
            [&o](const Value& v) { o.sensitivityInputs = parsePositiveCount("--sensitivity-inputs", *v); },
            "--sensitivity-inputs=K",
            "Run each analysis and selection candidate once on\n"
            "the first K calibration input sets (default: 4)"},
           {"--auto-keep-float", FlagValue::None, enable(o.autoKeepFloat), "",
            "Keep the fewest layers in float32 that reach\n"
            "--min-cosine: the shortest worst-first prefix of\n"
            "the --sensitivity ranking (binary search on its\n"
            "length, up to 2+log2(N) more runs) becomes the\n"
            "quantization pass's keep-float; prints the layers,\n"
            "the cosine and the time against all int8"},
           {"--per-node", FlagValue::Optional,
            [&o](const Value& v) {
              o.perNode = true;
              o.perNodeReport = v;
            },
            "--per-node[=FILE.json]",
            "With --check-equivalence: match the intermediate\n"
            "values that survive optimization (by debug name,\n"
            "source location or position), compare each one\n"
            "(quantized values dequantized) and print the first\n"
            "that drifts past the tolerance (--min-cosine when\n"
            "given) and the largest drifts; FILE.json gets every\n"
            "matched value (docs/cli.md)"},
           {"--per-node-rows", FlagValue::Required,
            [&o](const Value& v) { o.perNodeRows = parsePositiveCount("--per-node-rows", *v); },
            "--per-node-rows=N", "Rows of the --per-node drift table (default: 10)"},
           {"--bisect", FlagValue::None, enable(o.bisect), "",
            "On a mismatch (or a cosine below --min-cosine), find\n"
            "the first bad pass, and in passes that count\n"
            "rewrites, the first bad rewrite"},
           {"--reproducer", FlagValue::Required, [&o](const Value& v) { o.reproducerDir = *v; }, "--reproducer=DIR",
            "On a pass failure, verifier failure or mismatch, write\n"
            "the IR before the failing pass and a lit test rerunning it"},
           {"--reduce-reproducer", FlagValue::None, enable(o.reduceReproducer), "",
            "With --reproducer, on IR text: shrink the graph before\n"
            "the failing pass to one that fails the same way\n"
            "(same pass, same kind of failure), as tsopt-reduce"},
       }},
      {"INSTRUMENTATION (written to stderr)",
       {
           {"--print-ir-before", FlagValue::Required, appendTo(o.printBefore), "--print-ir-before=P[,P]",
            "Print the IR before the named passes"},
           {"--print-ir-after", FlagValue::Required, appendTo(o.printAfter), "--print-ir-after=P[,P]",
            "Print the IR after the named passes"},
           {"--print-ir-before-all", FlagValue::None, [&o](const Value&) { o.printBefore.push_back("all"); }, "",
            "Print the IR before every pass"},
           {"--print-ir-after-all", FlagValue::None, [&o](const Value&) { o.printAfter.push_back("all"); }, "",
            "Print the IR after every pass"},
           {"--print-ir-after-change", FlagValue::None, enable(o.printAfterChange), "",
            "Print the IR after every pass that changed it"},
           {"--verify-each", FlagValue::None, enable(o.verifyEach), "",
            "Verify the IR after every pass (and that a module\n"
            "still saves and loads)"},
           {"--time-passes", FlagValue::None, enable(o.timePasses), "", "Print a table of time spent in each pass"},
           {"--track-memory", FlagValue::None,
            [&o](const Value&) {
              o.timePasses = true;
              o.trackMemory = true;
            },
            "",
            "--time-passes with each pass's change of resident\n"
            "memory and the process's peak after it (Linux)"},
           {"--stats", FlagValue::None, enable(o.stats), "", "Print the passes' statistics"},
           {"--debug-only", FlagValue::Required, appendTo(o.debugOnly), "--debug-only=P[,P]",
            "Print the named passes' debug output ('all' for every pass)"},
       }},
      {"REMARKS AND REPORTS (written to stderr; docs/remarks.md)",
       {
           {"-Rpass", FlagValue::Required, [&o](const Value& v) { o.remarksPassed = *v; }, "-Rpass=REGEX",
            "Print a remark for each rewrite of the passes whose\n"
            "name REGEX finds ('fuse-' or '.*' for all)"},
           {"-Rpass-missed", FlagValue::Required, [&o](const Value& v) { o.remarksMissed = *v; },
            "-Rpass-missed=REGEX", "Print why those passes left a node alone"},
           {"-Rpass-analysis", FlagValue::Required, [&o](const Value& v) { o.remarksAnalysis = *v; },
            "-Rpass-analysis=REGEX", "Print the facts those passes found"},
           {"--remarks-file", FlagValue::Required, [&o](const Value& v) { o.remarksFile = *v; },
            "--remarks-file=FILE", "Write every remark of every pass to FILE, a record each"},
           {"--remarks-format", FlagValue::Required, [&o](const Value& v) { o.remarksFormat = *v; },
            "--remarks-format=FMT",
            "yaml or json (default: json for FILE.json, else yaml)"},
           {"--report", FlagValue::Required, [&o](const Value& v) { o.report = parseReport(*v); },
            "--report=coverage",
            "After the run, per op kind: nodes in tsopt kernels,\n"
            "folded away and left on ATen (with the reasons of\n"
            "the missed remarks), and the share of conv, linear\n"
            "and matmul FLOPs in tsopt kernels when shapes are\n"
            "known (--example-inputs); =coverage-json for JSON"},
           {"--report-file", FlagValue::Required, [&o](const Value& v) { o.reportFile = *v; },
            "--report-file=FILE", "Write the --report to FILE instead of stderr"},
       }},
      // Not listed: the usage line and --help are the help.
      {"",
       {
           {"--help", FlagValue::None, enable(o.help)},
           {"--version", FlagValue::None, enable(o.version)},
       }},
  };
}

bool parseLevel(const std::string& arg, DriverOptions& options) {
  std::optional<int> level = parseOptimizationLevel(arg);
  if (level) {
    options.level = level;
  }
  return level.has_value();
}

} // namespace

std::optional<int> parseOptimizationLevel(const std::string& arg) {
  if (arg.size() != 3 || arg.rfind("-O", 0) != 0 || arg[2] < '0' || arg[2] > '9') {
    return std::nullopt;
  }
  int level = arg[2] - '0';
  if (level > kMaxOptimizationLevel) {
    throw Error(ErrorKind::Usage, "unknown optimization level '" + arg + "' (use -O0 to -O" +
                                      std::to_string(kMaxOptimizationLevel) + ")");
  }
  return level;
}

DriverOptions parseDriverOptions(const std::vector<std::string>& args) {
  DriverOptions options;
  bool sawInput = false;
  auto input = [&](const std::string& arg) {
    if (sawInput) {
      throw Error(ErrorKind::Usage, "more than one input file: '" + options.input + "' and '" + arg + "'");
    }
    options.input = arg;
    sawInput = true;
  };
  parseFlags(args, flags(options), input, [&](const std::string& arg) { return parseLevel(arg, options); });
  if (options.minCosine && !options.checkEquivalence) {
    options.checkEquivalence = "";
  }
  if (options.autoKeepFloat && !options.minCosine) {
    throw Error(ErrorKind::Usage, "--auto-keep-float needs --min-cosine=X (the accuracy to reach)");
  }
  bool sensitivityInputsGiven = std::any_of(args.begin(), args.end(), [](const std::string& arg) {
    return arg.rfind("--sensitivity-inputs", 0) == 0;
  });
  if (sensitivityInputsGiven && !options.sensitivity && !options.autoKeepFloat) {
    throw Error(ErrorKind::Usage, "--sensitivity-inputs needs --sensitivity or --auto-keep-float");
  }
  if (options.perNode && !options.checkEquivalence) {
    throw Error(ErrorKind::Usage, "--per-node needs --check-equivalence (it compares the values of both runs)");
  }
  bool perNodeRowsGiven = std::any_of(args.begin(), args.end(), [](const std::string& arg) {
    return arg.rfind("--per-node-rows", 0) == 0;
  });
  if (perNodeRowsGiven && !options.perNode) {
    throw Error(ErrorKind::Usage, "--per-node-rows needs --per-node");
  }
  if (options.bisect && !options.checkEquivalence) {
    throw Error(ErrorKind::Usage, "--bisect needs --check-equivalence (it bisects on a mismatch)");
  }
  if (options.reduceReproducer && !options.reproducerDir) {
    throw Error(ErrorKind::Usage, "--reduce-reproducer needs --reproducer=DIR");
  }
  if (!options.remarksFormat.empty() && !options.remarksFile) {
    throw Error(ErrorKind::Usage, "--remarks-format needs --remarks-file=FILE");
  }
  if (options.reportFile && !options.report) {
    throw Error(ErrorKind::Usage, "--report-file needs --report=coverage or --report=coverage-json");
  }
  if (options.passes && options.level) {
    throw Error(ErrorKind::Usage, "give either --passes or -O<level>, not both");
  }
  bool needsInput = !(options.listPasses || options.help || options.version);
  if (needsInput && !sawInput) {
    throw Error(ErrorKind::Usage, "no input file (use '-' for stdin; see --help)");
  }
  return options;
}

std::string driverUsage() {
  DriverOptions unused;
  return "OVERVIEW: tsopt - TorchScript graph optimizer\n"
         "\n"
         "USAGE: tsopt INPUT [options]\n"
         "  INPUT is a TorchScript archive (.pt from torch.jit.save) or IR text\n"
         "  (the graph(...) syntax print(graph) produces); '-' reads stdin.\n"
         "\n" +
         flagHelp(flags(unused)) +
         "EXIT CODES:\n"
         "  0 success, 1 a pass failed or produced invalid IR, 2 bad command line or\n"
         "  pipeline, 3 bad input, 4 output could not be written\n";
}

} // namespace tsopt
