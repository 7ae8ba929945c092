//===- fuse_quantized_gate.h - uint8 squeeze-excitation gating multiply ---===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fuse-quantized-gate: a quantized::mul (the squeeze-excitation gate that
/// quantize-static leaves in MobileNetV3 and quantize-squeeze-excitation in
/// EfficientNet) becomes tsopt::quantized_gate with the same operands, scale
/// and zero point: for a uint8 activation times a per-channel [N, C, 1, 1]
/// gate, either operand, one pass over the activation in its layout with the
/// requantization folded in (PyTorch's broadcasting quantized::mul is several
/// times slower than a float32 multiply); for any other shapes the op calls
/// quantized::mul itself (the IR of a loaded archive records no shapes, so the
/// op checks them at run time). Numerics: within 1 uint8 step of
/// quantized::mul (float32 multiplier and offset per channel instead of
/// PyTorch's integer product). Needs libtsopt_runtime to load the result.
/// Never fires for a square (both operands one value) or an operand of a
/// known rank other than 4.
///   %y = quantized::mul(%x, %gate, %scale, %zero_point)
///   ==>   %y = tsopt::quantized_gate(%x, %gate, %scale, %zero_point)
class FuseQuantizedGatePass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Statistic fused{this, "fused", "quantized::mul rewritten as tsopt::quantized_gate"};
  Statistic skipped{this, "skipped", "quantized::mul left alone (--debug-only says why)"};
};

} // namespace tsopt
