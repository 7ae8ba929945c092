#include "ir_tools/driver_options.h"

#include "ir_tools/command_line.h"
#include "passes/builtin/levels.h"
#include "passes/core/error.h"
#include "passes/core/pass.h"
#include "passes/core/string_utils.h"

namespace tsopt {
namespace {

void append(std::vector<std::string>& target, const std::vector<std::string>& items) {
  target.insert(target.end(), items.begin(), items.end());
}

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

/// The flags, writing into `o`.
FlagTable flags(DriverOptions& o) {
  using Value = std::optional<std::string>;
  return {
      {"-o", {FlagValue::Required, [&o](const Value& v) { o.output = *v; }}},
      {"--passes", {FlagValue::Required, [&o](const Value& v) { o.passes = *v; }}},
      {"--method", {FlagValue::Required, [&o](const Value& v) { o.method = *v; }}},
      {"--load-pass-plugin", {FlagValue::Required, [&o](const Value& v) { o.plugins.push_back(*v); }}},
      {"--print-ir-before", {FlagValue::Required, [&o](const Value& v) { append(o.printBefore, splitList(*v)); }}},
      {"--print-ir-after", {FlagValue::Required, [&o](const Value& v) { append(o.printAfter, splitList(*v)); }}},
      {"--debug-only", {FlagValue::Required, [&o](const Value& v) { append(o.debugOnly, splitList(*v)); }}},
      {"--print-ir-before-all", {FlagValue::None, [&o](const Value&) { o.printBefore.push_back("all"); }}},
      {"--print-ir-after-all", {FlagValue::None, [&o](const Value&) { o.printAfter.push_back("all"); }}},
      {"--print-ir-after-change", {FlagValue::None, [&o](const Value&) { o.printAfterChange = true; }}},
      {"--verify-each", {FlagValue::None, [&o](const Value&) { o.verifyEach = true; }}},
      {"--time-passes", {FlagValue::None, [&o](const Value&) { o.timePasses = true; }}},
      {"--stats", {FlagValue::None, [&o](const Value&) { o.stats = true; }}},
      {"--split-input-file", {FlagValue::None, [&o](const Value&) { o.splitInputFile = true; }}},
      {"--list-passes", {FlagValue::None, [&o](const Value&) { o.listPasses = true; }}},
      {"--dump-pass-pipeline", {FlagValue::None, [&o](const Value&) { o.dumpPassPipeline = true; }}},
      {"--check-equivalence", {FlagValue::Optional, [&o](const Value& v) { o.checkEquivalence = v.value_or(""); }}},
      {"--rtol", {FlagValue::Required, [&o](const Value& v) { o.rtol = parseTolerance("--rtol", *v); }}},
      {"--atol", {FlagValue::Required, [&o](const Value& v) { o.atol = parseTolerance("--atol", *v); }}},
      {"--calibration-data", {FlagValue::Required, [&o](const Value& v) { o.calibrationData = *v; }}},
      {"--min-cosine", {FlagValue::Required, [&o](const Value& v) { o.minCosine = parseCosine("--min-cosine", *v); }}},
      {"--bisect", {FlagValue::None, [&o](const Value&) { o.bisect = true; }}},
      {"--reproducer", {FlagValue::Required, [&o](const Value& v) { o.reproducerDir = *v; }}},
      {"--help", {FlagValue::None, [&o](const Value&) { o.help = true; }}},
      {"--version", {FlagValue::None, [&o](const Value&) { o.version = true; }}},
  };
}

bool parseLevel(const std::string& arg, DriverOptions& options) {
  if (arg.size() != 3 || arg.rfind("-O", 0) != 0 || arg[2] < '0' || arg[2] > '9') {
    return false;
  }
  int level = arg[2] - '0';
  if (level > kMaxOptimizationLevel) {
    throw Error(ErrorKind::Usage, "unknown optimization level '" + arg + "' (use -O0 to -O" +
                                      std::to_string(kMaxOptimizationLevel) + ")");
  }
  options.level = level;
  return true;
}

} // namespace

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
  if (options.bisect && !options.checkEquivalence) {
    throw Error(ErrorKind::Usage, "--bisect needs --check-equivalence (it bisects on a mismatch)");
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
  return R"(OVERVIEW: tsopt - TorchScript graph optimizer

USAGE: tsopt INPUT [options]
  INPUT is a TorchScript archive (.pt from torch.jit.save) or IR text
  (the graph(...) syntax print(graph) produces); '-' reads stdin.

PIPELINE:
  --passes=PIPELINE         Passes to run, e.g. 'inline,freeze,dce' or
                            'lower-tuples{all=true}' (see --list-passes)
  -O0 .. -O3                Run a predefined pipeline instead of --passes
  --load-pass-plugin=LIB    Load a shared library that registers passes (repeatable)
  --list-passes             List passes with their summaries and options
  --dump-pass-pipeline      Print the pipeline that will run, options spelled out

INPUT/OUTPUT:
  -o FILE                   Write the result: FILE.pt saves the module, any
                            other name gets IR text; '-' (default) is stdout
  --method=NAME             Method of a module to optimize (default: forward)
  --split-input-file        Run each '# -----'-separated case of IR text on its own

CORRECTNESS (module inputs):
  --check-equivalence[=INPUTS]
                            Run the original and the optimized module twice on
                            INPUTS (a list of input tuples saved with torch.save;
                            default: inputs made from the traced input shapes) and
                            compare every output; exit 1 on a mismatch. When a
                            pass changes numerics (quantization; marked in
                            --list-passes), report per output the cosine
                            similarity, max abs error and top-1 agreement instead
  --min-cosine=X            Exit 1 when an output's cosine similarity to the
                            original's is below X; implies --check-equivalence
  --rtol=X, --atol=X        Override the per-dtype tolerances (those of
                            torch.testing.assert_close)
  --calibration-data=FILE   Input tuples saved with torch.save that the calibrate
                            pass runs (static quantization); also the inputs of
                            --check-equivalence when no other inputs are found
  --bisect                  On a mismatch (or a cosine below --min-cosine), find
                            the first bad pass, and in passes that count
                            rewrites, the first bad rewrite
  --reproducer=DIR          On a pass failure, verifier failure or mismatch, write
                            the IR before the failing pass and a lit test rerunning it

INSTRUMENTATION (written to stderr):
  --print-ir-before=P[,P]   Print the IR before the named passes
  --print-ir-after=P[,P]    Print the IR after the named passes
  --print-ir-before-all     Print the IR before every pass
  --print-ir-after-all      Print the IR after every pass
  --print-ir-after-change   Print the IR after every pass that changed it
  --verify-each             Verify the IR after every pass (and that a module
                            still saves and loads)
  --time-passes             Print a table of time spent in each pass
  --stats                   Print the passes' statistics
  --debug-only=P[,P]        Print the named passes' debug output ('all' for every pass)

EXIT CODES:
  0 success, 1 a pass failed or produced invalid IR, 2 bad command line or
  pipeline, 3 bad input, 4 output could not be written
)";
}

} // namespace tsopt
