//===- remark_output.h - Printing and writing optimization remarks --------===//
///
/// What tsopt does with the remarks passes emit (passes/core/remarks.h):
///   -Rpass=REGEX, -Rpass-missed=REGEX, -Rpass-analysis=REGEX print the
///   remarks of the passes whose name the regex finds (std::regex_search, as
///   clang), one clang-like line each, on stderr:
///     model.ir:4:16: remark: kept aten::batch_norm: its input is used twice [-Rpass-missed=fold-conv-bn]
///   --remarks-file=FILE writes every remark, one record each, as YAML (LLVM's
///   remark format: a document per remark) or a JSON array.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/remarks.h"

#include <iosfwd>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace tsopt {

/// The -Rpass family: a pattern per remark kind; a kind without one prints nothing.
class RemarkFilter {
public:
  /// Sets the pattern of `kind` from the text of `flag`. Throws tsopt::Error
  /// (Usage) naming the flag when `pattern` is not a valid regular expression.
  void setPattern(RemarkKind kind, const std::string& flag, const std::string& pattern);
  bool empty() const;
  /// Whether the pattern of the remark's kind finds its pass name.
  bool selects(const Remark& remark) const;

private:
  std::optional<std::regex> patterns_[3];
};

/// The flag that prints remarks of `kind`: "-Rpass", "-Rpass-missed", "-Rpass-analysis".
std::string remarkFlag(RemarkKind kind);

/// `remark` on one line, as clang prints remarks: "WHERE: remark: MESSAGE [-Rpass=PASS]".
/// WHERE is file:line:col when the remark has a location with a file, else
/// "FUNCTION:%VALUE" (a node without a source location), else `fallback` (the input).
std::string remarkLine(const Remark& remark, const std::string& fallback);

enum class RemarkFormat { Yaml, Json };

/// --remarks-format, or the remarks file's extension when empty (.json is
/// JSON, anything else YAML). Throws tsopt::Error (Usage) on an unknown format.
RemarkFormat remarkFormatFor(const std::string& format, const std::string& path);

/// YAML, LLVM's layout: "--- !Missed" opens each remark, "..." closes it.
std::string remarksYaml(const std::vector<Remark>& remarks);
/// A JSON array with an object per remark.
std::string remarksJson(const std::vector<Remark>& remarks);

/// Receives the remarks of a run (the handler of the pass manager's
/// Instrumentation): gives IR text locations their file and line, prints the
/// remarks `filter` selects, and keeps every remark.
class RemarkCollector {
public:
  /// `inputName` is the input as the user named it ("<stdin>" for "-").
  RemarkCollector(RemarkFilter filter, std::string inputName, bool textInput, std::ostream& err);

  /// IR text: the graph being optimized starts at `firstLine` of the input
  /// (--split-input-file cases start further down).
  void setFirstLine(size_t firstLine) { firstLine_ = firstLine; }
  void add(Remark remark);
  const std::vector<Remark>& remarks() const { return remarks_; }
  RemarkHandler handler() {
    return [this](const Remark& remark) { add(remark); };
  }

private:
  RemarkFilter filter_;
  std::string inputName_;
  bool textInput_;
  std::ostream& err_;
  size_t firstLine_ = 1;
  std::vector<Remark> remarks_;
};

} // namespace tsopt
