//===- ir_diff.h - Graphs as text, and diffs of printed graphs ------------===//
///
/// graphText() prints a graph. canonicalIRDiff() compares two: both are
/// printed after torch::jit::Canonicalize (on copies), so value numbers
/// follow program order. That alone makes a poor diff: removing one
/// node renumbers every later value, and every later line would differ. So
/// before the line diff, the numbered values of B are renamed after those of
/// A wherever the two texts line up with numbers masked: a node that kept its
/// shape prints the same, and what a pass rewired or replaced still shows.
/// Renaming values changes no graph; named values (%x.1) are never touched.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <string>
#include <vector>

namespace tsopt {

/// The graph's text. LibTorch prints a "# file:line:col" comment after nodes
/// in nested blocks even when asked for no source locations; without
/// `sourceLocations` those comments are cut, so the flag means what it says.
std::string graphText(const torch::jit::Graph& graph, bool sourceLocations);

/// The unified diff from `a` to `b` (empty when their canonical text is the
/// same), headed "--- nameA" / "+++ nameB". Neither graph is modified.
std::string canonicalIRDiff(const std::shared_ptr<torch::jit::Graph>& a, const std::shared_ptr<torch::jit::Graph>& b,
                            const std::string& nameA, const std::string& nameB);

/// Renames the numbered values (%12) in `b` after the values of `a` they line
/// up with; B's other numbered values get numbers A does not use. Text inside
/// double quotes (string constants) is left alone.
void alignValueNumbers(const std::vector<std::string>& a, std::vector<std::string>& b);

} // namespace tsopt
