//===- tool_testing.h - Helpers for the tests of tsopt and tsdump ---------===//
#pragma once

#include "passes/core/error.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iosfwd>
#include <sstream>
#include <string>
#include <vector>

namespace tsopt::testing_tools {

/// What one run of a tool returned and printed.
struct ToolResult {
  int code;
  std::string out;
  std::string err;
};

/// A tool's library entry point: runTsopt or runTsdump.
using ToolEntry = int (*)(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

inline ToolResult runTool(ToolEntry tool, const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  int code = tool(args, out, err);
  return {code, out.str(), err.str()};
}

/// Writes `text` to `name` in the test's temporary folder; returns the path.
inline std::string writeTempFile(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

/// The message of the tsopt::Error that `body` throws, expected to be of
/// `kind`; "" and a test failure when it throws none.
template <typename Fn> std::string errorMessage(ErrorKind kind, Fn&& body) {
  try {
    body();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), kind);
    return error.what();
  }
  ADD_FAILURE() << "no tsopt::Error thrown";
  return "";
}

} // namespace tsopt::testing_tools
