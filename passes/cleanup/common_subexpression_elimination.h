//===- common_subexpression_elimination.h - Merge identical nodes --------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// cse: replaces a node by an earlier identical node (same kind, inputs and
/// attributes) that dominates it (torch::jit::EliminateCommonSubexpression).
/// Never merges nodes with side effects or nodes that read memory written in between,
/// as alias analysis decides.
///   %a = aten::add(%x, %y, %one)  %b = aten::add(%x, %y, %one)   ==>   uses of %b use %a
class CommonSubexpressionEliminationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic mergedNodes{this, "merged-nodes", "Redundant nodes merged into an earlier one"};
};

} // namespace tsopt
