#include "ir_tools/driver_options.h"

#include "passes/core/error.h"
#include "passes/core/levels.h"
#include "passes/core/pass.h"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

namespace tsopt {
namespace {

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) {
      items.push_back(item);
    }
  }
  return items;
}

void append(std::vector<std::string>& target, const std::vector<std::string>& items) {
  target.insert(target.end(), items.begin(), items.end());
}

enum class Value { None, Required, Optional };

struct Flag {
  Value value;
  std::function<void(DriverOptions&, const std::string&)> apply;
};

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

const std::map<std::string, Flag>& flags() {
  static const std::map<std::string, Flag> table = {
      {"-o", {Value::Required, [](DriverOptions& o, const std::string& v) { o.output = v; }}},
      {"--passes", {Value::Required, [](DriverOptions& o, const std::string& v) { o.passes = v; }}},
      {"--method", {Value::Required, [](DriverOptions& o, const std::string& v) { o.method = v; }}},
      {"--load-pass-plugin", {Value::Required, [](DriverOptions& o, const std::string& v) { o.plugins.push_back(v); }}},
      {"--print-ir-before", {Value::Required, [](DriverOptions& o, const std::string& v) { append(o.printBefore, splitList(v)); }}},
      {"--print-ir-after", {Value::Required, [](DriverOptions& o, const std::string& v) { append(o.printAfter, splitList(v)); }}},
      {"--debug-only", {Value::Required, [](DriverOptions& o, const std::string& v) { append(o.debugOnly, splitList(v)); }}},
      {"--print-ir-before-all", {Value::None, [](DriverOptions& o, const std::string&) { o.printBefore.push_back("all"); }}},
      {"--print-ir-after-all", {Value::None, [](DriverOptions& o, const std::string&) { o.printAfter.push_back("all"); }}},
      {"--print-ir-after-change", {Value::None, [](DriverOptions& o, const std::string&) { o.printAfterChange = true; }}},
      {"--verify-each", {Value::None, [](DriverOptions& o, const std::string&) { o.verifyEach = true; }}},
      {"--time-passes", {Value::None, [](DriverOptions& o, const std::string&) { o.timePasses = true; }}},
      {"--stats", {Value::None, [](DriverOptions& o, const std::string&) { o.stats = true; }}},
      {"--split-input-file", {Value::None, [](DriverOptions& o, const std::string&) { o.splitInputFile = true; }}},
      {"--list-passes", {Value::None, [](DriverOptions& o, const std::string&) { o.listPasses = true; }}},
      {"--dump-pass-pipeline", {Value::None, [](DriverOptions& o, const std::string&) { o.dumpPassPipeline = true; }}},
      {"--check-equivalence", {Value::Optional, [](DriverOptions& o, const std::string& v) { o.checkEquivalence = v; }}},
      {"--rtol", {Value::Required, [](DriverOptions& o, const std::string& v) { o.rtol = parseTolerance("--rtol", v); }}},
      {"--atol", {Value::Required, [](DriverOptions& o, const std::string& v) { o.atol = parseTolerance("--atol", v); }}},
      {"--calibration-data", {Value::Required, [](DriverOptions& o, const std::string& v) { o.calibrationData = v; }}},
      {"--min-cosine", {Value::Required, [](DriverOptions& o, const std::string& v) { o.minCosine = parseCosine("--min-cosine", v); }}},
      {"--bisect", {Value::None, [](DriverOptions& o, const std::string&) { o.bisect = true; }}},
      {"--reproducer", {Value::Required, [](DriverOptions& o, const std::string& v) { o.reproducerDir = v; }}},
      {"--help", {Value::None, [](DriverOptions& o, const std::string&) { o.help = true; }}},
      {"--version", {Value::None, [](DriverOptions& o, const std::string&) { o.version = true; }}},
  };
  return table;
}

std::string nearestFlag(const std::string& given) {
  std::string best;
  size_t bestScore = 0;
  for (const auto& entry : flags()) {
    const std::string& name = entry.first;
    size_t common = 0;
    while (common < name.size() && common < given.size() && name[common] == given[common]) {
      ++common;
    }
    if (common > bestScore && common >= 4) {
      bestScore = common;
      best = name;
    }
  }
  return best;
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
  for (size_t index = 0; index < args.size(); ++index) {
    const std::string& arg = args[index];
    if (arg == "-" || arg.empty() || arg[0] != '-') {
      if (sawInput) {
        throw Error(ErrorKind::Usage, "more than one input file: '" + options.input + "' and '" + arg + "'");
      }
      options.input = arg;
      sawInput = true;
      continue;
    }
    if (parseLevel(arg, options)) {
      continue;
    }
    size_t equals = arg.find('=');
    std::string name = arg.substr(0, equals);
    auto flag = flags().find(name);
    if (flag == flags().end()) {
      std::string message = "unknown option '" + name + "'";
      std::string nearest = nearestFlag(name);
      if (!nearest.empty()) {
        message += "; did you mean '" + nearest + "'?";
      }
      throw Error(ErrorKind::Usage, message + " (see --help)");
    }
    std::string value;
    if (flag->second.value == Value::Optional) {
      value = equals == std::string::npos ? "" : arg.substr(equals + 1);
    } else if (flag->second.value == Value::Required) {
      if (equals != std::string::npos) {
        value = arg.substr(equals + 1);
      } else if (index + 1 < args.size()) {
        value = args[++index];
      } else {
        throw Error(ErrorKind::Usage, "option '" + name + "' needs a value");
      }
      if (value.empty()) {
        throw Error(ErrorKind::Usage, "option '" + name + "' needs a non-empty value");
      }
    } else if (equals != std::string::npos) {
      throw Error(ErrorKind::Usage, "option '" + name + "' takes no value");
    }
    flag->second.apply(options, value);
  }
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
