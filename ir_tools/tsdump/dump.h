//===- dump.h - tsdump: look inside TorchScript archives and IR ------------===//
///
/// Everything `tsdump` does, callable from tests: summaries of archives
/// (summary.h), graphs (graph_output.h), op histograms (op_stats.h) and diffs
/// of two inputs (diff.h). It only reads its inputs. Output goes to `out` or
/// to the -o file, written whole or not at all; errors are one line on `err`,
/// "tsdump: error: FILE: message", with the exit codes of tsopt::exitCodeFor.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace tsopt {

int runTsdump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// argv-style entry point for main(); uses std::cout and std::cerr.
int tsdumpMain(int argc, char** argv);

} // namespace tsopt
