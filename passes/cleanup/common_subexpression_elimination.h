//===- common_subexpression_elimination.h - Merge identical nodes --------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// cse: replaces a node by an earlier identical node (same kind, inputs and
/// attributes) that dominates it: torch::jit::EliminateCommonSubexpression's
/// rules, in time linear in the graph (torch's compares every pair of
/// same-typed tensor constants; see passes/core/node_hashing.h).
/// Never merges nodes with side effects, nondeterministic nodes, nodes that read
/// memory written in between (alias analysis), two graph outputs that would then
/// alias, or tensor constants that are not bit-for-bit identical (0.0 vs -0.0).
///   %a = aten::add(%x, %y, %one)  %b = aten::add(%x, %y, %one)   ==>   uses of %b use %a
class CommonSubexpressionEliminationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic mergedNodes{this, "merged-nodes", "Redundant nodes merged into an earlier one"};
};

} // namespace tsopt
