#include "ir_tools/tsdump/text_table.h"

#include <algorithm>
#include <sstream>

namespace tsopt {

std::string TextTable::render(const std::string& indent) const {
  std::vector<size_t> widths(rightAligned_.size(), 0);
  for (const auto& row : rows_) {
    for (size_t column = 0; column < row.size(); ++column) {
      widths[column] = std::max(widths[column], row[column].size());
    }
  }
  std::ostringstream text;
  for (const auto& row : rows_) {
    std::string line = indent;
    for (size_t column = 0; column < row.size(); ++column) {
      bool last = column + 1 == row.size();
      std::string padding(widths[column] - row[column].size(), ' ');
      line += column == 0 ? "" : "  ";
      line += rightAligned_[column] ? padding + row[column] : row[column] + (last ? "" : padding);
    }
    text << line << "\n";
  }
  return text.str();
}

} // namespace tsopt
