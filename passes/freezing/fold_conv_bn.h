//===- fold_conv_bn.h - Fold eval batch norm into convolutions ------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-conv-bn: folds an eval-mode aten::batch_norm into the convolution that
/// feeds it (conv1d/2d/3d, conv_transpose1d/2d/3d, aten::_convolution; any
/// groups, dilation, padding; with or without bias), computing the new weight
/// and bias in double precision and casting back to the weight's dtype.
/// Needs: a frozen graph (constant weights and statistics); otherwise a no-op.
/// Never fires when the convolution's output has another use, when the batch
/// norm's training flag is not the constant False, or when channel counts differ.
/// Unlike PyTorch's FoldFrozenConvBatchnorm it handles transposed convolutions
/// and counts every rewrite for --bisect.
///   %y = aten::conv2d(%x, %w, %b, ...)  %z = aten::batch_norm(%y, %g, %beta, %m, %v, false, ...)
///   ==>   %z = aten::conv2d(%x, %w', %b', ...)
class FoldConvBatchNormPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic folded{this, "folded", "Batch norms folded into convolutions"};
  Statistic skipped{this, "skipped", "Batch norms left in place (--debug-only says why)"};
};

} // namespace tsopt
