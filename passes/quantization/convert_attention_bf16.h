//===- convert_attention_bf16.h - Fused attention with bfloat16 matmuls ----===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// convert-attention-bf16: every tsopt::attention (fuse-attention's call)
/// becomes tsopt::attention_bf16, and every tsopt::sdp_attention
/// tsopt::sdp_attention_bf16: the same call whose two matmuls read query,
/// key, value and the softmax's probabilities rounded to bfloat16 (oneDNN's
/// AMX or AVX512-BF16 matmuls, products summed in float32); scale, mask,
/// softmax and the result stay float32. Where oneDNN has no native bf16 matmul
/// (AVX2 CPUs) the call runs the float32 kernel, and on CUDA tensors
/// tsopt::attention's. Changes numerics: bf16 keeps 8 mantissa bits (BERT-base
/// seq 128 with dynamic int8 linears: docs/quantization.md).
/// Needs: fuse-attention first; otherwise a no-op. Never fires for operands
/// known to be other than float32 or known not to be on the CPU.
///   %o = tsopt::attention(%q, %kt, %v, %mask, 0.125, True)
///   ==>   %o = tsopt::attention_bf16(%q, %kt, %v, %mask, 0.125, True)
class ConvertAttentionBf16Pass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Statistic converted{this, "converted", "Attention calls converted to bfloat16 matmuls"};
  Statistic skipped{this, "skipped", "Attention calls left in float32 (--debug-only says why)"};
};

} // namespace tsopt
