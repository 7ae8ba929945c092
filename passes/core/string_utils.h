//===- string_utils.h - Small string helpers shared by the tools ----------===//
#pragma once

#include <string>
#include <vector>

namespace tsopt {

/// Whether `text` ends with `suffix` (a file name with an extension, say).
bool hasSuffix(const std::string& text, const std::string& suffix);

/// The items of a comma-separated list ("a,b,,c" is a, b, c): empty items are
/// dropped, as command-line lists allow a trailing comma.
std::vector<std::string> splitList(const std::string& text);

} // namespace tsopt
