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

std::string firstLine(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) {
    return "";
  }
  size_t end = text.find('\n', begin);
  std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
    line.pop_back();
  }
  return line;
}

} // namespace tsopt
