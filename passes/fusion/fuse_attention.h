//===- fuse_attention.h - Scaled dot-product attention into one call -------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fuse-attention: the attention of transformer encoders,
///
///   %s = aten::matmul(%q, %kt)                 (kt: the key transposed)
///   [%s = aten::div(%s, c) | aten::mul(%s, c)] (c a constant number or 1-element tensor)
///   [%s = aten::masked_fill(%s, %c, fill) | aten::where(%c, %s, fill)]
///                                              (GPT's causal mask; fill -inf or below -1e30)
///   [%s = aten::add(%s, %mask, 1)]             (either operand order)
///   %p = aten::softmax(%s, -1, None)           (the last dimension)
///   %o = aten::matmul(%p, %v)
///   [%o = aten::permute(%o, [0, 2, 1, 3])]     (heads back beside each other; or
///                                               transpose(%o, 1, 2) where %o is
///                                               sure to be 4-D: the size list
///                                               of the view, reshape or permute
///                                               that split q, k, v and the mask)
///
/// becomes one tsopt::attention(%q, %kt, %v, %mask, scale, permute_output) (a
/// fill turns into the additive mask where(%c, fill, 0), added to %mask): two
/// oneDNN matmuls that read the permuted q/k/v views in place, with the scale
/// and mask as post-ops, and an in-place softmax; with the permute folded, the
/// result is written in the layout the following contiguous()/view() wants.
/// Inputs the kernel does not cover run the same ops through ATen (runtime/attention.h).
/// Never fires when an intermediate has another use, for in-place forms, for a
/// softmax over another dimension or with a dtype, or for operands known to be
/// other than float32 (float64; float16 and bfloat16 unless on CUDA).
///
/// PyTorch 2.x's own op, what `transformers` models (attn_implementation
/// "sdpa", their default) and F.scaled_dot_product_attention trace to,
///   aten::scaled_dot_product_attention(%q, %k, %v, %mask, dropout_p, is_causal, scale[, enable_gqa])
///   [aten::permute(%o, [0, 2, 1, 3]) | aten::transpose(%o, 1, 2) with %q sure to be 4-D]
/// becomes tsopt::sdp_attention(%q, %k, %v, %mask, is_causal, scale,
/// permute_output): the same kernel, the mask additive or boolean (or
/// is_causal's), the scale None (1/sqrt of q's last size) or any float; where
/// the mask leaves a row without keys, and for what the kernel does not cover,
/// the call runs ATen's op (runtime/attention.h). Only with dropout_p and
/// enable_gqa the constants 0 and False, and is_causal a constant.
///   %s = aten::matmul(%q, %kt)  %d = aten::div(%s, %c)  %a = aten::add(%d, %m, %one)
///   %p = aten::softmax(%a, %minus1, %none)  %o = aten::matmul(%p, %v)
///   ==>   %o = tsopt::attention(%q, %kt, %v, %m, 0.125, False)
class FuseAttentionPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> permuteOutput{
      this, "permute-output",
      "Also fold a permute(0, 2, 1, 3), or transpose(1, 2) of a 4-D result (the kernel writes that layout)", true};
  Statistic fused{this, "fused", "Attention blocks rewritten as tsopt::attention"};
  Statistic skipped{this, "skipped", "Softmax nodes left alone (--debug-only says why)"};
  Statistic fusedSdpa{this, "fused-sdpa", "scaled_dot_product_attention calls rewritten as tsopt::sdp_attention"};
  Statistic skippedSdpa{this, "skipped-sdpa", "scaled_dot_product_attention calls left alone (--debug-only says why)"};
};

} // namespace tsopt
