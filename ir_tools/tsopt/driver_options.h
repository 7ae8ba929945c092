//===- driver_options.h - The tsopt command line --------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

struct DriverOptions {
  std::string input;                  ///< Path, or "-" for stdin.
  std::string output = "-";           ///< "-" prints IR to stdout; *.pt saves a module.
  std::optional<std::string> passes;  ///< --passes pipeline text.
  std::optional<int> level;           ///< -O<n>.
  std::string method = "forward";
  bool splitInputFile = false;
  /// --max-input-size: bytes an input file may have; unset: InputLimits' default.
  std::optional<uint64_t> maxInputSize;
  bool keepModuleClasses = false;
  /// --example-inputs: input tuples saved with torch.save; the first specializes the method.
  std::optional<std::string> exampleInputs;
  /// --device: where the archive's tensors are loaded ("cpu", "cuda", "cuda:N"), checked by the parser.
  std::optional<std::string> device;
  bool listPasses = false;
  bool dumpPassPipeline = false;
  bool help = false;
  bool version = false;
  std::vector<std::string> plugins;
  std::vector<std::string> printBefore;
  std::vector<std::string> printAfter;
  bool printAfterChange = false;
  bool verifyEach = false;
  bool timePasses = false;
  bool trackMemory = false;  ///< Implies timePasses.
  bool stats = false;
  std::vector<std::string> debugOnly;
  /// --check-equivalence: set (possibly to "") when on; a path names inputs saved by torch.save.
  std::optional<std::string> checkEquivalence;
  std::optional<double> rtol;
  std::optional<double> atol;
  /// --min-cosine: accuracy floor for every floating-point output; implies --check-equivalence.
  std::optional<double> minCosine;
  /// --calibration-data: inputs for the passes that calibrate (their calibration-data option).
  std::optional<std::string> calibrationData;
  /// --sensitivity: per-layer int8 sensitivity table; sensitivityReport is its JSON file, when given.
  bool sensitivity = false;
  std::optional<std::string> sensitivityReport;
  /// --sensitivity-inputs: how many calibration input sets the analysis runs.
  int64_t sensitivityInputs = 4;
  /// --auto-keep-float: keep the fewest layers in float32 that reach --min-cosine.
  bool autoKeepFloat = false;
  bool bisect = false;
  std::optional<std::string> reproducerDir;
  /// --reduce-reproducer: the reproducer of a bare graph holds it reduced (tsopt-reduce's engine).
  bool reduceReproducer = false;
  /// --per-node: compare matched intermediate values; perNodeReport is its JSON file, when given.
  bool perNode = false;
  std::optional<std::string> perNodeReport;
  /// --per-node-rows: rows of the largest-drift table.
  int64_t perNodeRows = 10;
  /// -Rpass, -Rpass-missed, -Rpass-analysis: regexes on pass names (compiled by the driver).
  std::optional<std::string> remarksPassed;
  std::optional<std::string> remarksMissed;
  std::optional<std::string> remarksAnalysis;
  /// --remarks-file and --remarks-format ("" picks by the file's extension).
  std::optional<std::string> remarksFile;
  std::string remarksFormat;
  /// --report: "coverage" or "coverage-json"; reportFile writes it there instead of stderr.
  std::optional<std::string> report;
  std::optional<std::string> reportFile;
};

/// Parses argv (without argv[0]). Throws tsopt::Error (Usage) naming the
/// offending argument, with the nearest known option when one is close.
DriverOptions parseDriverOptions(const std::vector<std::string>& args);

/// The level of "-O<digit>", or nothing for any other argument. Throws
/// tsopt::Error (Usage) for a level above kMaxOptimizationLevel.
std::optional<int> parseOptimizationLevel(const std::string& arg);

/// The --help text; its flag rows come from the flag table.
std::string driverUsage();

} // namespace tsopt
