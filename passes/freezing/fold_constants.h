//===- fold_constants.h - Propagate constants and pool equal ones ---------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-constants: runs torch::jit::ConstantPropagation, then merges tensor
/// constants that identicalTensors() calls identical, whatever types the graph
/// records for them, then pools the remaining duplicate constants and hoists
/// constants to the top of the graph (poolConstants: torch::jit::ConstantPooling's
/// rules, in linear time).
/// Preconditions: none; on a frozen graph it also pools equal weights.
/// Never merges a tensor constant that is written in place, nor two that are
/// both returned from the graph (alias analysis), nor tensors that are equal
/// only by at::equal (0.0 vs -0.0).
///   %a = aten::add(%two, %three, %one)   ==>   %a = prim::Constant[value=5]()
///   %w1 = prim::Constant[value=<ones(8)>]()  %w2 = prim::Constant[value=<ones(8)>]()
///   ==>   %w1 used wherever %w2 was
class FoldConstantsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  bool poolIdenticalTensors(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context);

  Statistic foldedNodes{this, "folded-nodes", "Nodes evaluated or removed by constant propagation"};
  Statistic pooledTensors{this, "pooled-tensors", "Tensor constants merged into an identical one"};
  Statistic pooledConstants{this, "pooled-constants", "Other duplicate constants removed by constant pooling"};
  Statistic keptWritten{this, "kept-written", "Tensor constants not pooled: written in place"};
  Statistic keptEscaping{this, "kept-escaping", "Tensor constants not pooled: returned, like their twin"};
};

} // namespace tsopt
