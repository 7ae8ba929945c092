//===- fuse_linear_act.h - Linear + bias (+ residual add) + activation ------===//
#pragma once

#include "passes/core/pass.h"
#include "runtime/activation.h"

namespace tsopt {

/// fuse-linear-act: a linear layer (aten::linear), optionally followed by an
/// aten::add or aten::sub of a residual tensor (as fuse-conv-add-act takes
/// them: any alpha on CPU float32 layers, r - linear(x) with negated weights)
/// and then by a supported activation
/// (relu, clamp, silu, hardswish, hardsigmoid, gelu erf or tanh, sigmoid, tanh,
/// leaky_relu, elu, softplus, mish, abs, exp, square, log_sigmoid), or by the
/// activation and then the residual add, becomes one tsopt::linear_act,
/// linear_add_act or linear_act_add call: a oneDNN inner product on weights
/// packed once, with bias, residual and activation applied as post-ops in the
/// graph's order.
/// BERT's dense + GELU and dense + residual are the chains it is for.
/// Needs: a frozen graph (constant float32 weight and bias, or float16/bfloat16 on CUDA); otherwise a no-op.
/// Never fires when an intermediate has another use or for float64 weights;
/// with residual-add=false it leaves adds alone; with lone-linears=true it also
/// rewrites a linear with nothing to fuse (activation "none").
///   %y = aten::linear(%x, %w, %b)   %z = aten::gelu(%y, "none")
///   ==>   %z = tsopt::linear_act(%x, %packed, "gelu", 0., 0.)
class FuseLinearActivationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<std::vector<std::string>> activations{
      this, "activations", "Activations to fuse (" + optionValueText(runtime::activationNames()) + ")",
      runtime::activationNames()};
  Option<bool> residualAdd{this, "residual-add", "Also fuse a residual add after the linear", true};
  Option<bool> loneLinears{this, "lone-linears", "Also rewrite linears with nothing to fuse", false};
  Statistic fused{this, "fused", "Linear layers rewritten as tsopt::linear_act, linear_add_act or linear_act_add"};
  Statistic skipped{this, "skipped", "Linear layers left alone (--debug-only says why)"};
};

} // namespace tsopt
