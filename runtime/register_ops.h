//===- register_ops.h - The tsopt:: operators and classes -------------------===//
///
/// Loading libtsopt_runtime registers, through TORCH_LIBRARY(tsopt, ...):
///
///   classes  tsopt.ConvPacked, tsopt.LinearPacked (picklable; see packed_layers.h)
///            tsopt.CudaGraphCache(max_graphs) (picklable; see cuda_graph_cache.h)
///            tsopt.LinearDynamicPacked (picklable; int8 weights; see linear_dynamic.h)
///            tsopt.QConvPacked (picklable; static int8; see packed_layers.h)
///   ops      tsopt::conv2d_prepack(weight, bias, stride, padding, dilation, groups) -> ConvPacked
///            tsopt::conv2d_act(input, packed, activation, alpha, beta)
///            tsopt::conv2d_add_act(input, other, packed, activation, alpha, beta)
///            tsopt::conv2d_act_add(input, other, packed, activation, alpha, beta)
///            tsopt::conv2d_add_act.scaled / conv2d_act_add.scaled(input, other, packed, activation, alpha,
///              beta, other_scale, second, second_scale): the same adding other_scale * other (conv(x) - r:
///              -1), then second_scale * second unless second is None (conv(x) + a + b)
///            tsopt::to_blocked(input), tsopt::from_blocked(input, channels): a 4-D activation to the
///              blocked (N, C/16, H, W, 16) tensor the conv2d ops also take, and back to channels-last
///              (packed_layers.h, toBlockedChannels)
///            tsopt::max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode): aten::max_pool2d
///              on oneDNN's pooling primitive where it computes the same (pooling.h)
///            tsopt::linear_prepack(weight, bias) -> LinearPacked
///            tsopt::linear_act(input, packed, activation, alpha, beta)
///            tsopt::linear_add_act(input, other, packed, activation, alpha, beta)
///            tsopt::linear_act_add(input, other, packed, activation, alpha, beta)
///            tsopt::linear_add_act.scaled / linear_act_add.scaled: as the conv2d ones
///            tsopt::linear_dynamic_prepack(weight, bias, reduce_range) -> LinearDynamicPacked
///            tsopt::linear_dynamic_act / _add_act / _act_add: as linear_*, dynamic int8, CPU only
///            tsopt::qconv2d_prepack(weight, bias, stride, padding, dilation, groups) -> QConvPacked
///            tsopt::qconv2d_act(input, packed, conv_scale, conv_zero_point, activation, alpha, beta,
///              out_scale, out_zero_point): static int8 (quint8 in and out), CPU only
///            tsopt::qconv2d_add_act(input, other, packed, conv_scale, ...): the same with the quint8
///              residual `other` added before the activation (quantized::add / add_relu)
///            tsopt::quantized_gate(x, gate, scale, zero_point): quantized::mul of a quint8 activation and a
///              per-channel [N, C, 1, 1] gate in one pass (quantized_gate.h), CPU only
///            tsopt::attention(query, key_t, value, mask, scale, permute_output)
///            tsopt::sdp_attention(query, key, value, mask, is_causal, scale?, permute_output): PyTorch 2.x's
///              scaled_dot_product_attention without dropout (its own where the kernel does not serve)
///            tsopt::add_layer_norm(input, other, normalized_shape, weight, bias, eps)
///            tsopt::cuda_graph_run(cache, module, method, inputs) -> Tensor[]
///
/// `*_add_act` computes activation(layer(input) + other), `*_act_add`
/// activation(layer(input)) + other; see activation.h for
/// the activation names; attention.h for tsopt::attention and sdp_attention; add_layer_norm.h
/// for tsopt::add_layer_norm (layer_norm(input + other, ...)); cuda_graph_cache.h
/// for tsopt::cuda_graph_run (a module's method, replayed from a captured CUDA
/// graph on the GPU). From Python: torch.ops.load_library(path to the library).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <vector>

namespace tsopt::runtime {

/// Qualified names of the operators above. Tools linking the runtime call it
/// so that the linker keeps the library, and with it the registrations.
std::vector<std::string> registeredOperators();

} // namespace tsopt::runtime
