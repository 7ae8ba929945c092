//===- decompose_multi_head_attention.h - Native MHA into layers + attention ===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// decompose-multi-head-attention: nn.MultiheadAttention's inference fast path
/// (torchvision's ViT, batch-first encoders) records one
/// aten::_native_multi_head_attention call, which runs its input and output
/// projections on unpacked weights inside the op, where no layer fusion can
/// reach them. The call becomes the computation it stands for:
///   - the input projection: one aten::linear with the q/k/v weight for
///     self-attention (query, key and value the same value) and slices of it
///     along the last dimension; for other attention, a linear per operand with
///     the weight's rows for it (sliced at compile time when the weight is a
///     constant, by aten::slice otherwise), key and value sharing one when they
///     are the same value;
///   - per head: view [B, L, H, D], permuted to [B, H, L, D] (the key to
///     [B, H, D, S]); matmul, times 1/sqrt(D), softmax over the last dimension,
///     matmul with the values, permuted back and reshaped to [B, L, E];
///   - the output projection: aten::linear.
/// fuse-linear-act then packs both projections (and takes a residual add after
/// the output projection), and fuse-attention turns the middle into
/// tsopt::attention. The native op scales q before its first matmul, this form
/// scales the scores: the results differ in rounding only.
/// Never: with a mask (mask_type semantics stay the op's), when the attention
/// weights (the second result) are used, for embed_dim or num_heads that are
/// not constants or do not divide, or for inputs known not to be floating point.
///   %o, %w = aten::_native_multi_head_attention(%x, %x, %x, 768, 12, %wqkv, %bqkv, %wo, %bo, None, False, True, None)
///   ==>   %qkv = aten::linear(%x, %wqkv, %bqkv)  ...  %o = aten::linear(%ctx, %wo, %bo)
class DecomposeMultiHeadAttentionPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic decomposed{this, "decomposed", "aten::_native_multi_head_attention calls decomposed"};
  Statistic kept{this, "kept", "aten::_native_multi_head_attention calls left alone (--debug-only says why)"};
};

} // namespace tsopt
