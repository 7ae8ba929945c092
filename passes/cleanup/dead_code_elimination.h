//===- dead_code_elimination.h - Remove unused nodes ---------------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// dce: deletes nodes whose outputs are unused and that have no side effects
/// (torch::jit::EliminateDeadCode), in every block. Never deletes prints,
/// exceptions, or writes to values that are live afterwards.
///   %unused = aten::relu(%x)   ==>   (deleted)
class DeadCodeEliminationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic removedNodes{this, "removed-nodes", "Dead nodes removed"};
};

} // namespace tsopt
