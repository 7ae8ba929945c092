#include "passes/core/error.h"

namespace tsopt {

int exitCodeFor(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::PassFailure:
    return 1;
  case ErrorKind::Usage:
    return 2;
  case ErrorKind::Input:
    return 3;
  case ErrorKind::Output:
    return 4;
  }
  return 1;
}

namespace {

std::string trimmedLine(const std::string& text, size_t begin) {
  size_t end = text.find('\n', begin);
  std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
    line.pop_back();
  }
  return line;
}

/// The start of the last line shaped "XxxError: message" (its first word ends
/// in "Error:"), or npos.
size_t causeLineStart(const std::string& text) {
  size_t found = std::string::npos;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    size_t colon = text.find("Error: ", begin);
    if (colon != std::string::npos && colon < end && text.find(' ', begin) == colon + 6) {
      found = begin;
    }
    if (end == std::string::npos) {
      break;
    }
    begin = end + 1;
  }
  return found;
}

} // namespace

std::string firstLine(const std::string& text) {
  static const std::string kInterpreterHeader = "The following operation failed in the TorchScript interpreter.";
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) {
    return "";
  }
  if (text.compare(begin, kInterpreterHeader.size(), kInterpreterHeader) == 0) {
    size_t cause = causeLineStart(text);
    if (cause != std::string::npos) {
      return trimmedLine(text, cause);
    }
  }
  return trimmedLine(text, begin);
}

} // namespace tsopt
