//===- verifier.h - Structural and schema checks on graphs -----------------===//
///
/// The check --verify-each runs after every pass and the driver runs on every
/// input: Graph::lint (SSA form, use lists, block structure); for every
/// operator node alias analysis does not special-case, a registered operator
/// whose schema matches the node's inputs; constants that hold a value of
/// their type; prim::If and prim::Loop with the inputs, blocks and block
/// outputs their semantics need; and a graph LibTorch's alias analysis reads
/// (every in-place pass builds it). Never modifies the graph.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <string>

namespace tsopt {

struct VerifierIssue {
  const torch::jit::Node* node = nullptr; ///< Offending node, when one is to blame.
  std::string message;
};

/// The first problem found in `graph`, or nothing when it is well formed.
std::optional<VerifierIssue> verifyGraph(const std::shared_ptr<torch::jit::Graph>& graph);

} // namespace tsopt
