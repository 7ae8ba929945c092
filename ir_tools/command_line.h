//===- command_line.h - What tsopt and tsdump share about argv ------------===//
///
/// Each tool declares its flags as a table (name, whether it takes a value,
/// what to do with it); `parseFlags` reads argv against the table with one set
/// of rules and messages, so the tools cannot drift apart. `runReportingErrors`
/// turns what a tool throws into its one-line error and exit code. The tools'
/// own checks (which flags combine, how many inputs) stay with each tool.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/error.h"

#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

enum class FlagValue {
  None,      ///< --flag; --flag=X is an error.
  Required,  ///< --flag=X or --flag X.
  Optional,  ///< --flag or --flag=X, never --flag X (X would be taken for an input).
};

struct Flag {
  FlagValue value;
  /// Gets the value, never empty: std::nullopt for a None flag and a bare Optional one.
  std::function<void(const std::optional<std::string>& value)> apply;
};

/// Flag name ("-o", "--passes") to what it does.
using FlagTable = std::map<std::string, Flag>;

/// Reads `args` (argv without argv[0]) in order. An argument that does not
/// start with '-', "-" (stdin) and "" go to `positional`; any other first goes
/// to `special` when given (it returns whether it took the argument: tsopt's
/// -O<n>), then is looked up in `flags`. Throws tsopt::Error (Usage) naming the
/// flag: unknown (with the nearest known flag when one shares a 4-character
/// prefix), a missing or empty value, or a value given to a flag that takes none.
void parseFlags(const std::vector<std::string>& args, const FlagTable& flags,
                const std::function<void(const std::string& arg)>& positional,
                const std::function<bool(const std::string& arg)>& special = nullptr);

/// Runs a tool's `body` and returns its exit code. A tsopt::Error it throws
/// becomes one line on `err`, "TOOL: error: message", and the exit code of the
/// error's kind; any other exception is reported as an internal error, with the
/// exit code of `internalErrorKind`. LibTorch's warnings during `body` print as
/// "TOOL: warning: message", once each; its deprecation notices are dropped.
int runReportingErrors(const std::string& tool, std::ostream& err, const std::function<int()>& body,
                       ErrorKind internalErrorKind);

} // namespace tsopt
