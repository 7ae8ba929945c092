//===- canonicalize_activations.h - Hand-written activations as ATen ops ---===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// canonicalize-activations: replaces an activation written out in element-wise
/// arithmetic by the ATen op it computes, so that fusion (and ATen's one-pass
/// kernels) see it:
///   GELU-tanh   0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   ==> aten::gelu(x, "tanh")
///   GELU        0.5 * x * (1 + erf(x / sqrt(2)))                          ==> aten::gelu(x, "none")
///   SiLU/swish  x * sigmoid(x)                                            ==> aten::silu(x)
///               x.mul_(sigmoid(x)), nothing writing x in between          ==> aten::silu_(x)
///   hardswish   x * hardtanh(x + 3, 0, 6) / 6 (clamp, relu6 alike),
///               x * hardsigmoid(x)                                        ==> aten::hardswish(x)
/// Products are read as monomials: any operand order and grouping, constant
/// factors anywhere (* 0.5, / 2), x^3 as pow(x, 3), x * x * x or x * x^2;
/// constants match to 1e-6 relative (0.7978845608 and math.sqrt(2 / math.pi),
/// x * 0.70710678 and x / math.sqrt(2)).
/// Needs: x a floating-point tensor, by its type or by what computes it (a
/// layer with a constant float weight, then views and element-wise ops: traced
/// archives keep no dtypes); out-of-place ops; adds with alpha 1; constants
/// that are numbers, or 0-dim tensors that cannot change the result's dtype.
/// Never: when x or any value of the formula is written in place anywhere in
/// the graph (a read could see another value; x.mul_(sigmoid(x)) itself
/// aside); other in-place forms; when x is not known to be a floating-point tensor. Intermediate values that
/// something else uses stay; the result is replaced all the same.
///   %s = aten::sigmoid(%x)  %y = aten::mul(%x, %s)   ==>   %y = aten::silu(%x)
class CanonicalizeActivationsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic canonicalized{this, "activations-canonicalized",
                          "Hand-written GELU, GELU-tanh, SiLU and hardswish replaced by the ATen op"};
  Statistic kept{this, "activations-kept",
                 "Hand-written activations left alone: a value written in place, or x's dtype not known"};
};

} // namespace tsopt
