//===- fold_layer_arith.h - Fold constant arithmetic into layers ----------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-layer-arith (also spelled fold-conv-add-mul, its name when it folded
/// into convolutions only): folds constant add/sub/mul/div applied to the
/// output of a convolution or an aten::linear into the layer's weight and
/// bias: `layer + c`, `c + layer`, `layer - c`, `layer * c`, `c * layer`,
/// `layer / c` (and add_/sub_/mul_/div_ on the output; aten::rsub, c - layer as
/// traced), with `alpha`, where c
/// is a number, a one-element tensor, or one factor per output channel:
/// [C, 1, ..., 1] for a convolution (or [1, C, 1, ..., 1] when the input is
/// known to be batched), [F] for a linear (or [1, ..., 1, F] no longer than
/// the output's known rank). Chains (layer * a + b) fold in one run. Math in
/// double precision.
/// Needs: a frozen graph. Never fires when the layer output has another use
/// (a graph output an in-place op would write into, a view of it), when c
/// would broadcast the output to a new shape or promote its dtype (a double
/// tensor, a boolean), when dividing by a zero, or for div with a rounding mode.
///   %y = aten::linear(%x, %w, %b)  %z = aten::div(%y, %c)   ==>   %z = aten::linear(%x, %w/c, %b/c)
class FoldLayerArithmeticPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic folded{this, "folded", "Arithmetic nodes folded into convolutions and linear layers"};
  Statistic skipped{this, "skipped", "Arithmetic on layer outputs left in place (--debug-only says why)"};
};

} // namespace tsopt
