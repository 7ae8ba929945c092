//===- convert_bf16.h - bfloat16 weights and compute for linear layers -----===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// convert-bf16: runs aten::linear, and aten::matmul with a constant 2-D right
/// operand, in bfloat16: the weight and bias constants become bf16, the input
/// is cast to bf16 before the layer and the result back to float32 after it,
/// so everything else stays float32. ATen sends bf16 matmuls to oneDNN, about
/// 2x fp32 OpenBLAS on CPUs with AVX512-BF16 (and slower than fp32 on CPUs
/// without it: use it only where measured to pay). Changes numerics (bf16
/// keeps 8 mantissa bits; cosine ~0.99999 per layer).
/// Needs: a frozen graph (constant float32 weight and bias); otherwise a no-op.
/// Never fires for float64 weights, for weights with another use, for layers
/// with fewer than min-size weight elements, for a left constant operand of
/// matmul, or anywhere in a graph with training-mode leftovers. A layer whose
/// input is the float32 cast of another converted layer's bf16 result reads
/// that bf16 value directly (the round trip is exact).
///   %y = aten::linear(%x, %w, %b)
///   ==>   %xb = aten::to(%x, 15, ...)   %yb = aten::linear(%xb, %w_bf16, %b_bf16)   %y = aten::to(%yb, 6, ...)
class ConvertBf16Pass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Option<int64_t> minSize{this, "min-size", "Leave layers with fewer weight elements in float32", 4096};
  Option<bool> matmul{this, "matmul", "Also convert aten::matmul with a constant 2-D right operand", true};
  Statistic converted{this, "converted", "Layers converted to bfloat16"};
  Statistic skipped{this, "skipped", "Layers left in float32 (--debug-only says why)"};
};

} // namespace tsopt
