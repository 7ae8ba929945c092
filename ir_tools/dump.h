//===- dump.h - tsdump: look inside TorchScript archives and IR ------------===//
///
/// Everything `tsdump` does, callable from tests: summaries of archives
/// (modules, methods, parameters, buffers, attributes), graphs (raw, inlined,
/// with source locations; as IR text, Graphviz DOT or JSON), op histograms,
/// and diffs of two inputs. It only reads its inputs. Output goes to `out` or
/// to the -o file, written whole or not at all; errors are one line on `err`,
/// "tsdump: error: FILE: message", with the exit codes of tsopt::exitCodeFor.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace tsopt {

int runTsdump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// argv-style entry point for main(); uses std::cout and std::cerr.
int tsdumpMain(int argc, char** argv);

/// How often each node kind occurs in `graph`, nested blocks included, sorted
/// by count (most frequent first), then by kind.
std::vector<std::pair<std::string, size_t>> opHistogram(const torch::jit::Graph& graph);

} // namespace tsopt
