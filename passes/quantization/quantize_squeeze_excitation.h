//===- quantize_squeeze_excitation.h - uint8 squeeze-excitation blocks ----===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// quantize-squeeze-excitation: after quantize-static, keeps a
/// squeeze-excitation block in uint8 where PyTorch leaves a float32 island
/// (EfficientNet: PyTorch has no quantized SiLU, so the depthwise
/// convolution's SiLU output, which feeds both the pooling and the gating
/// multiply, stays float32 and so do they). A float32 SiLU or hardswish of a
/// dequantized uint8 tensor whose users are all poolings (adaptive_avg_pool2d,
/// mean) and multiplies by another dequantized tensor requantized to uint8
/// gets a quantize_per_tensor of its own; the poolings read it (quint8
/// pooling keeps its scale; a dequantize after them feeds their users) and
/// each multiply with its requantization becomes quantized::mul (activation
/// first, so the result keeps its layout) with the same output scale and zero
/// point (fuse-quantized-gate runs it as one uint8 pass). The activation's
/// parameters are not observed: they cover the activation of each of the
/// input's 256 uint8 values, so nothing the input can represent is clipped,
/// with all 8 bits (no convolution reads them, so reduce-range's 7 bits are
/// not needed). fuse-quantized-conv-act then folds the convolution, the
/// activation and the new requantization into one tsopt::qconv2d_act whose
/// uint8 output has both users. The output runs on stock PyTorch.
/// Numerics: the activation rounds to its own step before the pooling and the
/// multiply (PyTorch's chain rounds only after them). Never fires when the
/// activation has another user (a float32 one that cannot take uint8), a
/// multiply's other factor is not a dequantized tensor, its result has another
/// user than one quantize_per_tensor to quint8, or that quantization's scale or
/// zero point is not a constant; nor when the input's parameters are not
/// constants of the op that produced it.
///   %d = aten::dequantize(%c)   %a = aten::silu(%d)   %p = aten::adaptive_avg_pool2d(%a, %one)
///   %m = aten::mul(%gate, %a)   %y = aten::quantize_per_tensor(%m, %s, %z, 13)
///   ==>   %aq = aten::quantize_per_tensor(%a, %sa, %za, 13)   %p.q = aten::adaptive_avg_pool2d(%aq, %one)
///         %p = aten::dequantize(%p.q)   %y = quantized::mul(%aq, %g, %s, %z)
class QuantizeSqueezeExcitationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Statistic activations{this, "activations", "Activations requantized to uint8 for their poolings and multiplies"};
  Statistic multiplies{this, "multiplies", "Gating multiplies rewritten as quantized::mul"};
  Statistic skipped{this, "skipped", "Activations of dequantized tensors left in float32 (--debug-only says why)"};
};

} // namespace tsopt
