//===- graph_dot.h - TorchScript graphs as Graphviz digraphs ---------------===//
///
/// Renders a graph for `dot -Tsvg`/`-Tpng`: one box per node, labelled with its
/// kind and short attributes; an edge per use of a value, labelled with the
/// value's name; the graph's inputs and its return as ellipses. A node with
/// blocks (prim::If, prim::Loop) is drawn twice, as a head that takes its
/// inputs and an `end` that defines its outputs; each block is a cluster
/// between the two, from an entry node (the block's parameters) to an exit
/// node (its outputs), joined by dashed edges, so the drawing has no cycles
/// (a loop's back edge is implied). Drawing only: the graph is never modified.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <string>

namespace tsopt {

/// The digraph named `title`.
std::string graphToDot(const torch::jit::Graph& graph, const std::string& title);

/// Short display text of one attribute of `node`, at most `maxLength`
/// characters: scalars and strings as written, a one-element tensor as its
/// value, other tensors as dtype and shape (`Float[64, 3, 7, 7]`), subgraphs
/// as `<graph>`.
std::string attributeText(const torch::jit::Node* node, torch::jit::Symbol name, size_t maxLength = 40);

} // namespace tsopt
