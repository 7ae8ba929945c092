//===- error.h - Errors tsopt reports to its users -------------------------===//
///
/// Every failure that reaches a user is a tsopt::Error: a one-line message plus a
/// category. The driver maps the category to a documented exit code, so scripts
/// can tell a bad command line from a bad input from a miscompile.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <stdexcept>
#include <string>

namespace tsopt {

enum class ErrorKind {
  Usage,        ///< Bad command line, pipeline text or pass option.
  Input,        ///< Unreadable, malformed or unsupported input.
  PassFailure,  ///< A pass threw, or the verifier rejected a pass's output.
  Output,       ///< The result could not be written.
};

/// Process exit code for an error of the given kind (0 is success).
int exitCodeFor(ErrorKind kind);

class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

private:
  ErrorKind kind_;
};

/// First line of an exception text, without the C++ backtrace LibTorch appends.
/// For an error the TorchScript interpreter wraps ("The following operation
/// failed in the TorchScript interpreter." + a TorchScript traceback), the line
/// that names the error it caught instead, e.g. "RuntimeError: ...".
std::string firstLine(const std::string& text);

} // namespace tsopt
