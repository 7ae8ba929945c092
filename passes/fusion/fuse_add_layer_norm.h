//===- fuse_add_layer_norm.h - Residual add + layer norm as one call -------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fuse-add-layer-norm: aten::layer_norm of an aten::add of two tensors (alpha
/// the constant 1) becomes one tsopt::add_layer_norm(a, b, shape, weight,
/// bias, eps): one pass over memory instead of writing the sum and reading it
/// back (a transformer's residual + LayerNorm, embeddings summed before their
/// LayerNorm). cudnn_enable, a hint, is dropped.
/// In -O2 it runs after the linear and convolution fusions: where a residual
/// add follows a linear layer, fuse-linear-act takes it into linear_add_act
/// first, so this pass takes only the adds no layer absorbed.
/// Never fires when the sum has another use (a residual needed later), for an
/// alpha other than the constant 1, for a scalar operand, for the in-place
/// add_ (it writes into an operand others may read), for a normalized shape
/// that is not a constant int list, or across blocks.
///   %s = aten::add(%a, %b, %one)   %y = aten::layer_norm(%s, %shape, %w, %bias, %eps, %cudnn)
///   ==>   %y = tsopt::add_layer_norm(%a, %b, %shape, %w, %bias, %eps)
class FuseAddLayerNormPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic fused{this, "fused", "add + layer_norm pairs rewritten as tsopt::add_layer_norm"};
  Statistic skipped{this, "skipped", "layer_norm nodes after an add left alone (--debug-only says why)"};
};

} // namespace tsopt
