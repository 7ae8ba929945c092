//===- fold_linear_bn.h - Fold eval batch norm into linear layers ---------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-linear-bn: folds an eval-mode aten::batch_norm (BatchNorm1d) into the
/// aten::linear feeding it, in double precision.
/// Needs: a frozen graph, and a proof that the linear output is 2-D ([N, F]),
/// where batch norm's channel axis (dim 1) is the linear's output features:
/// a recorded rank of 2, or an input produced by flatten(x, 1, -1) or of rank 2.
/// Never fires on 3-D outputs ([N, L, F] normalizes L, not F), when the linear
/// output has another use, or in training mode.
///   %y = aten::linear(%x, %w, %b)  %z = aten::batch_norm(%y, ...)   ==>   %z = aten::linear(%x, %w', %b')
class FoldLinearBatchNormPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic folded{this, "folded", "Batch norms folded into linear layers"};
  Statistic skipped{this, "skipped", "Batch norms left in place (--debug-only says why)"};
};

} // namespace tsopt
