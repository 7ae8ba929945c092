//===- text_table.h - Aligned columns for tsdump's text output ------------===//
#pragma once

#include <string>
#include <vector>

namespace tsopt {

/// Columns padded to their widest cell; the last column is never padded.
class TextTable {
public:
  explicit TextTable(std::vector<bool> rightAligned) : rightAligned_(std::move(rightAligned)) {}

  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  /// One line per row, each starting with `indent`, cells two spaces apart.
  std::string render(const std::string& indent) const;

private:
  std::vector<bool> rightAligned_;
  std::vector<std::vector<std::string>> rows_;
};

} // namespace tsopt
