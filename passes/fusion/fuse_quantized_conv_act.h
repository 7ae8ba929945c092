//===- fuse_quantized_conv_act.h - int8 conv + activation + requantize ----===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fuse-quantized-conv-act (module pass): after quantize-static, a
/// quantized::conv2d and the activation PyTorch runs after it become one
/// tsopt::qconv2d_act call on a tsopt.QConvPacked constant (the same int8
/// weights, repacked for tsopt's oneDNN), which applies the activation to the
/// float32 result inside the primitive and requantizes it to uint8, so the
/// chain stays uint8 where PyTorch leaves a float32 island. It takes
/// dequantize, activation (SiLU, sigmoid, ...) and a uint8 quantize_per_tensor
/// with constant parameters (EfficientNet); quantized::hardswish (MobileNetV3);
/// sigmoid on the quantized tensor (PyTorch's fixed output scale 1/256, zero
/// point 0); and hardtanh, relu6, clamp or relu on the quantized tensor (the
/// convolution's output parameters; MobileNetV2). Numerics: one rounding
/// instead of two (the convolution's result saturates to its uint8 range as
/// before, but no longer rounds before the activation). Needs libtsopt_runtime
/// to load the result. Never fires when an intermediate value has another use,
/// for a quantize_per_tensor to another dtype than quint8 or with non-constant
/// parameters, quantized::conv2d_relu followed by another activation,
/// transposed convolutions, or weights with non-zero zero points; grouped
/// (depthwise) and dilated convolutions are supported. A quantized::add or
/// add_relu of a quantized::conv2d's output and another quantized tensor (the
/// residuals of ResNet and MobileNetV2), with constant output scale and zero
/// point, becomes tsopt::qconv2d_add_act: the residual enters the primitive as
/// a sum post-op (its uint8 values minus its zero point, times its scale,
/// added to the convolution's float32 result saturated to its own uint8 range),
/// relu after it for add_relu; never after quantized::conv2d_relu, nor when the
/// residual comes from a quantize_per_tensor to another dtype than quint8 (a
/// residual of another dtype at run time takes the op's ATen fallback). A
/// quantized::conv2d(_relu) with nothing to fuse is rewritten too (activation
/// "none" or "relu"; lone-convs=false keeps PyTorch's): with its
/// requantization folded into the output scales, tsopt's kernel is the faster
/// one (ResNet-50 int8 on an AVX-512/AMX Xeon, 1 thread: 1.29-1.32x FX int8
/// with them, 1.16-1.19x without; docs/quantization.md). Run dce afterwards:
/// PyTorch's packed weights stay as unused attribute reads.
///   %c = quantized::conv2d(%q, %packed, %s, %z)   %d = aten::dequantize(%c)   %a = aten::silu(%d)
///   %y = aten::quantize_per_tensor(%a, %s2, %z2, 13)
///   ==>   %y = tsopt::qconv2d_act(%q, %qpacked, %s, %z, "silu", 0., 0., %s2, %z2)
///   %c = quantized::conv2d(%q, %packed, %s, %z)   %y = quantized::add_relu(%c, %r, %s2, %z2)
///   ==>   %y = tsopt::qconv2d_add_act(%q, %r, %qpacked, %s, %z, "relu", 0., 0., %s2, %z2)
class FuseQuantizedConvActivationPass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Option<std::vector<std::string>> activations{this, "activations",
                                               "Activations to fuse (of the fuse-conv-act list)",
                                               {"relu", "clamp", "silu", "hardswish", "sigmoid"}};
  Option<bool> loneConvs{this, "lone-convs", "Also rewrite quantized convolutions with nothing to fuse", true};
  Option<bool> residualAdds{this, "residual-adds",
                            "Fuse a quantized::add(_relu) of a convolution's output as a sum post-op", true};
  Statistic fused{this, "fused", "Quantized convolutions rewritten as tsopt::qconv2d_act or qconv2d_add_act"};
  Statistic fusedAdds{this, "fused-adds", "Quantized convolutions fused with their residual add (tsopt::qconv2d_add_act)"};
  Statistic skipped{this, "skipped", "Quantized convolutions left alone (--debug-only says why)"};
};

} // namespace tsopt
