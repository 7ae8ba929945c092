//===- driver.h - The tsopt driver as a library ---------------------------===//
///
/// Everything `tsopt` does, callable from tests and from other tools: the binary's
/// main only forwards argv. Output goes to `out`, diagnostics and instrumentation
/// to `err`; the return value is the process exit code (see driverUsage()).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace tsopt {

int runTsopt(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// argv-style entry point for main(); uses std::cout and std::cerr.
int tsoptMain(int argc, char** argv);

} // namespace tsopt
