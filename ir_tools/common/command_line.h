//===- command_line.h - What tsopt and tsdump share about argv ------------===//
///
/// Each tool declares its flags as a table: per flag its name, whether it takes
/// a value, what to do with it, and its line in --help. `parseFlags` reads argv
/// against the table with one set of rules and messages, and `flagHelp` prints
/// the table's part of --help, so the tools cannot drift apart and a flag cannot
/// miss its help. `runReportingErrors` turns what a tool throws into its
/// one-line error and exit code. The tools' own checks (which flags combine, how
/// many inputs) stay with each tool.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/error.h"

#include <functional>
#include <iosfwd>
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
  /// As typed: "-o", "--passes". Empty for a help row about an argument the
  /// tool reads itself (tsopt's -O<n>, see parseFlags' `special`).
  std::string name;
  FlagValue value = FlagValue::None;
  /// Gets the value, never empty: std::nullopt for a None flag and a bare Optional one.
  std::function<void(const std::optional<std::string>& value)> apply{};
  /// --help's left column, e.g. "--passes=PIPELINE"; the name when empty.
  std::string usage{};
  /// --help's right column, lines separated by '\n'. A flag without help is
  /// not listed (--help itself, or a flag another row describes).
  std::string help{};
};

/// A titled group of flags in --help ("PIPELINE:"), with an optional note
/// printed under its rows.
struct FlagSection {
  std::string title;
  std::vector<Flag> flags;
  std::string note{};
};

/// A tool's flags in the order --help lists them.
using FlagTable = std::vector<FlagSection>;

/// Reads `args` (argv without argv[0]) in order. An argument that does not
/// start with '-', "-" (stdin) and "" go to `positional`; any other first goes
/// to `special` when given (it returns whether it took the argument: tsopt's
/// -O<n>), then is looked up in `flags`. Throws tsopt::Error (Usage) naming the
/// flag: unknown (with the nearest known flag when one shares a 4-character
/// prefix), a missing or empty value, or a value given to a flag that takes none.
void parseFlags(const std::vector<std::string>& args, const FlagTable& flags,
                const std::function<void(const std::string& arg)>& positional,
                const std::function<bool(const std::string& arg)>& special = nullptr);

/// The sections of --help: per section "TITLE:", a row per flag with help (its
/// usage in a 26-column field, or alone on its line when longer, then the help
/// lines from column 28), the section's note, and a blank line.
std::string flagHelp(const FlagTable& flags);

/// What --version prints: "TOOL VERSION (LibTorch VERSION)".
std::string versionLine(const std::string& tool);

/// Runs a tool's `body` and returns its exit code. A tsopt::Error it throws
/// becomes one line on `err`, "TOOL: error: message", and the exit code of the
/// error's kind; any other exception is reported as an internal error, with the
/// exit code of `internalErrorKind`. LibTorch's warnings during `body` print as
/// "TOOL: warning: message", once each; its deprecation notices are dropped.
int runReportingErrors(const std::string& tool, std::ostream& err, const std::function<int()>& body,
                       ErrorKind internalErrorKind);

} // namespace tsopt
