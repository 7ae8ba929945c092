//===- dump_options.h - The tsdump command line ---------------------------===//
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// What tsdump prints. Summary is the default: an archive's summary, or the
/// graph of IR text.
enum class DumpMode { Summary, Graph, OpStats, Diff };
enum class DumpFormat { Text, Dot, Json };

struct DumpOptions {
  std::vector<std::string> inputs;  ///< Paths, "-" for stdin; two for --diff.
  std::string output = "-";
  DumpMode mode = DumpMode::Summary;
  std::string modeFlag;  ///< The flag that chose `mode`, for conflict messages.
  std::optional<std::string> method;
  std::optional<bool> inlined;  ///< --inlined / --no-inline; unset: the mode's default.
  bool sourceLocations = false;
  DumpFormat format = DumpFormat::Text;
  bool help = false;
  bool version = false;
};

/// Parses argv (without argv[0]) and checks the flags against each other; a
/// flag that shapes a graph (--method, --inlined, --source-locations,
/// --format=dot) turns the Summary mode into Graph. Throws tsopt::Error
/// (Usage) naming the offending argument.
DumpOptions parseDumpOptions(const std::vector<std::string>& args);

/// The --help text; its flag rows come from the flag table.
std::string tsdumpUsage();

} // namespace tsopt
