//===- decompose_transformer_encoder_layer.h - Native encoder layer opened --===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// decompose-transformer-encoder-layer: nn.TransformerEncoderLayer's inference
/// fast path (eval mode without autograd, PyTorch 1.12 and later) records one
/// aten::_transformer_encoder_layer_fwd call per layer, which runs every
/// projection, both layer norms and the feed-forward block inside the op,
/// where no fusion reaches them. The call becomes the computation it stands
/// for (PyTorch's transformer_encoder_layer_forward):
///   - norm_first: x = layer_norm(src, [E], w1, b1, eps) before the attention,
///     and the second norm before the feed-forward block; otherwise each norm
///     after its residual add;
///   - the attention as aten::_native_multi_head_attention(x, x, x, E, H,
///     qkv_weight, qkv_bias, proj_weight, proj_bias, mask, False, True,
///     mask_type), which decompose-multi-head-attention then opens (it keeps
///     the call when there is a mask), plus the residual src;
///   - the feed-forward block: linear, gelu (use_gelu) or relu, linear, plus
///     its residual.
/// fuse-linear-act then packs the four linear layers with the activation and
/// the residual adds, fuse-add-layer-norm takes the adds before the norms, and
/// fuse-attention the attention.
/// Never: for a schema it does not know, for embed_dim, num_heads, use_gelu or
/// norm_first that are not constants (num_heads must divide embed_dim), for a
/// source known not to be floating point, or one that may be a nested tensor:
/// made by a nested-tensor op or from one, as every layer of
/// nn.TransformerEncoder's padding-mask path is (aten::_nested_tensor_from_mask
/// first, aten::to_padded_tensor after the last layer): layer norm and the
/// rest of the decomposition do not take nested tensors.
///   %y = aten::_transformer_encoder_layer_fwd(%x, 768, 12, %wqkv, %bqkv, %wo, %bo, True, False, 1e-05, ...)
///   ==>   %a, %w = aten::_native_multi_head_attention(%x, %x, %x, 768, 12, ...)  %h = aten::add(%a, %x, 1)
///         %n = aten::layer_norm(%h, [768], ...)  %f = aten::linear(%n, ...)  %g = aten::gelu(%f, "none") ...
class DecomposeTransformerEncoderLayerPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic decomposed{this, "decomposed", "aten::_transformer_encoder_layer_fwd calls decomposed"};
  Statistic kept{this, "kept", "aten::_transformer_encoder_layer_fwd calls left alone (--debug-only says why)"};
};

} // namespace tsopt
