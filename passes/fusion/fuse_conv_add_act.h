//===- fuse_conv_add_act.h - Convolution + residual add (+ activation) ------===//
#pragma once

#include "passes/core/pass.h"
#include "runtime/activation.h"

namespace tsopt {

/// fuse-conv-add-act: a convolution (1-D, 2-D or 3-D, plain or transposed) whose only use is an aten::add or
/// aten::sub (or add_ / sub_ into the convolution's output) of another tensor, and the
/// supported activation after the add if there is one, becomes one
/// tsopt::conv2d_add_act call: oneDNN adds the residual and applies the
/// activation as post-ops while the result is still in registers. A residual
/// added after the activation (relu(conv(x)) + x) becomes tsopt::conv2d_act_add:
/// the sum post-op follows the eltwise one. conv(x) + alpha * r and
/// conv(x) - alpha * r pass the residual's scale to the op's `.scaled`
/// overload (CPU float32 layers only); r - conv(x) packs negated weights and
/// bias (exact), but r - act(conv(x)) is left alone (no exact form).
/// Needs: a frozen graph, as fuse-conv-act. Never fires when an intermediate
/// has another use, when the add's other operand is a scalar or the
/// convolution's output itself, for in-place adds into the residual, or for
/// any convolution fuse-conv-act refuses, nor for a residual whose traced
/// shape or dtype differs from the convolution's. One whose shape differs only at run
/// time (broadcasting) takes the ATen path.
///   %y = aten::conv2d(%x, %w, %b, ...)   %s = aten::add(%y, %r, 1)   %z = aten::relu(%s)
///   ==>   %z = tsopt::conv2d_add_act(%x, %r, %packed, "relu", 0., 0.)
///   (aten::relu(%y) then aten::add(.., %r, 1)  ==>  tsopt::conv2d_act_add(%x, %r, %packed, "relu", 0., 0.))
///   (aten::sub(%y, %r, 1)  ==>  tsopt::conv2d_add_act(%x, %r, %packed, "none", 0., 0., -1.))
class FuseConvAddActivationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<std::vector<std::string>> activations{
      this, "activations",
      "Activations to fuse after the add (" + optionValueText(runtime::activationNames()) + ")",
      runtime::activationNames()};
  Statistic fused{this, "fused", "Convolution + add chains rewritten as tsopt::conv2d_add_act or conv2d_act_add"};
  Statistic skipped{this, "skipped", "Convolutions left alone (--debug-only says why)"};
};

} // namespace tsopt
