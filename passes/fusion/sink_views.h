//===- sink_views.h - Shape-only views below element-wise ops ---------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// sink-views: moves a shape-only view (aten::view, aten::reshape,
/// aten::flatten) below the element-wise op that reads it, so the op sits next
/// to the layer that produced the viewed value and fusion can take it:
/// transformers' Conv1D layers (GPT-2) end in a view back to 3-D, between the
/// linear layer and its activation or residual add.
///   - a unary element-wise op (an activation): act(view(y)) ==> view(act(y));
///   - a residual add of a view of a layer's result (linear, matmul, addmm,
///     convolution) and another operand of the view's shape, which is known
///     with y's: add(r, view(y)) ==> view(add(reshape(r, y's shape), y)).
/// Each rewritten op reads its inputs where it did before, and its result is a
/// view of a fresh tensor, as before.
/// Never: when the viewed value or the view is written in place anywhere; a
/// binary add that may broadcast (shapes not known), or whose other operand is
/// a layer's result too, or not contiguous by its type; ops
/// with tensor arguments besides the view (clamp with tensor bounds).
///   %v = aten::view(%y, %size)   %z = aten::gelu(%v, %none)
///   ==>   %a = aten::gelu(%y, %none)   %z = aten::view(%a, %size)
class SinkViewsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic sunk{this, "views-sunk", "Views moved below an element-wise op or a residual add"};
  Statistic kept{this, "views-kept", "Views left above an element-wise op: written in place, or shapes not known"};
};

} // namespace tsopt
