//===- fold_conv_add_mul.h - Fold constant arithmetic into convolutions ---===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-conv-add-mul: folds constant add/sub/mul/div applied to a convolution's
/// output into its weight and bias: `conv + c`, `c + conv`, `conv - c`,
/// `conv * c`, `c * conv`, `conv / c` (and add_/sub_/mul_/div_ on the output),
/// with `alpha`, where c is a number, a one-element tensor, or a per-channel
/// tensor shaped [C, 1, ..., 1] (or [1, C, 1, ..., 1] when the input is known to
/// be batched). Chains (conv * a + b) fold in one run. Math in double precision.
/// Needs: a frozen graph. Never fires when the convolution output has another
/// use, when c would broadcast the output to a new shape or promote its dtype,
/// when dividing by a zero, or for div with a rounding mode.
///   %y = aten::conv2d(%x, %w, %b, ...)  %z = aten::mul(%y, %c)   ==>   %z = aten::conv2d(%x, %w*c, %b*c, ...)
class FoldConvAddMulPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic folded{this, "folded", "Arithmetic nodes folded into convolutions"};
  Statistic skipped{this, "skipped", "Arithmetic on convolution outputs left in place (--debug-only says why)"};
};

} // namespace tsopt
