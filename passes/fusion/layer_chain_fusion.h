//===- layer_chain_fusion.h - Layer + add + activation chains as one call -===//
///
/// fuse-conv-act, fuse-conv-add-act and fuse-linear-act all rewrite a chain
///
///   layer (a convolution of any kind or linear, constant weights the kernels take: fusedKernelSupports)
///   [-> aten::add / add_ / sub / sub_ of a residual tensor (matchResidualSum)]
///   [-> a supported activation]
///
/// into one call of the runtime's fused op (tsopt::conv2d_act, conv2d_add_act,
/// linear_act, linear_add_act) whose weights are a prepacked constant. The
/// conv2d_* ops take every convolution kind: the tsopt.ConvPacked constant
/// says which (the names stay for the archives that hold them). A residual
/// added with a scale other than 1 (alpha, or a sub: conv(x) - r has -1) takes
/// the ops' `.scaled` overloads, on CPU float32 layers only (the CUDA kernels
/// take no scale); r - layer(x) packs the layer with negated weights and bias. They
/// differ only in which chains they accept; fuseLayerChains does the work.
/// Every chain left alone gets a reason on the pass's debug stream.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/ir_matchers.h"
#include "passes/core/pass.h"
#include "runtime/packed_layers.h"

#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tsopt {

/// An activation node a fused kernel can apply: `name` is the runtime's
/// spelling (one of runtime::activationNames()); alpha and beta are clamp's
/// bounds (relu6 and hardtanh are clamps).
struct ActivationMatch {
  torch::jit::Node* node = nullptr;
  std::string name;
  double alpha = 0.0;
  double beta = 0.0;
};

/// Whether the fused ops have kernels for layer parameters (and activations)
/// of `dtype` on `device`: float32 on the CPU (oneDNN); float32, float16 and
/// bfloat16 on CUDA (cuDNN, cuBLASLt). Anything else would run ATen's unfused
/// ops behind a fused name (no gain), so the passes leave it alone. The same
/// graph fuses to the same ops on both devices.
bool fusedKernelSupports(at::ScalarType dtype, const at::Device& device);

/// The user of `value` when it is the only one and sits in the same block;
/// otherwise null, with the reason in `whyNot`.
torch::jit::Node* soleUserInBlock(torch::jit::Value* value, std::string& whyNot);

/// aten::relu, relu6, hardtanh, clamp, clamp_min, clamp_max (constant scalar bounds), silu,
/// hardswish, hardsigmoid, gelu (approximate "none" or "tanh"), sigmoid, tanh,
/// leaky_relu (constant slope), elu (constant alpha; scale and input_scale 1),
/// softplus (constant beta > 0, threshold >= 16), mish, abs, exp, square,
/// pow(x, 2), log_sigmoid and their in-place forms, applied to their first input.
std::optional<ActivationMatch> matchActivation(torch::jit::Node* node, std::string& whyNot);

/// A sum of `operand` and a residual tensor: operand + scale * residual, or,
/// with negatesOperand, residual - operand (scale 1).
struct ResidualSum {
  torch::jit::Value* residual = nullptr;
  double scale = 1.0;
  bool negatesOperand = false;
};

/// aten::add / add_ / sub / sub_ of two tensors with a constant alpha, one of
/// them `operand`: operand + alpha * r and operand - alpha * r (any finite
/// alpha), r + operand and r - operand (alpha 1; -1 swaps them). The in-place
/// forms only when they write into `operand`.
std::optional<ResidualSum> matchResidualSum(torch::jit::Node* node, torch::jit::Value* operand,
                                            std::string& whyNot);

/// aten::add / add_ adding two tensors with alpha the constant 1, one of them
/// `operand`: returns the other. add_ only when it writes into `operand`.
std::optional<torch::jit::Value*> matchResidualAdd(torch::jit::Node* node, torch::jit::Value* operand,
                                                   std::string& whyNot);

/// A 1-D, 2-D or 3-D convolution, plain or transposed (aten::conv1d/2d/3d
/// with list padding, conv_transpose1d/2d/3d, aten::_convolution or
/// aten::convolution), with constant weight and bias of one dtype and device
/// the kernels take (fusedKernelSupports), and constant parameters, one value
/// per spatial dimension, that runtime::checkConv2dParams accepts.
struct ConvMatch {
  LayerMatch layer;
  runtime::Conv2dParams params;
};
std::optional<ConvMatch> matchFusibleConvolution(torch::jit::Node* node, std::string& whyNot);

/// aten::linear with a constant weight and bias (or no bias) of one dtype and
/// device the kernels take.
std::optional<LayerMatch> matchFusibleLinear(torch::jit::Node* node, std::string& whyNot);

/// Linear chains become tsopt::linear_* (float32) or, for
/// LinearDynamicInt8, tsopt::linear_dynamic_* (int8 weights, activations
/// quantized per call: runtime/linear_dynamic.h).
enum class FusedLayerKind { Conv2d, Linear, LinearDynamicInt8 };

/// Which chains a fusion pass rewrites.
struct ChainPolicy {
  FusedLayerKind layer = FusedLayerKind::Conv2d;
  bool fuseAdd = false;       ///< Absorb a residual add after the layer.
  bool requireAdd = false;    ///< Rewrite only chains that have one.
  bool loneLayers = false;    ///< Also rewrite a layer with nothing to absorb (activation "none").
  std::set<std::string> activations;  ///< Activations it may absorb.
  bool reduceRange = false;           ///< LinearDynamicInt8: 7-bit activations.
  int64_t minWeightElements = 0;      ///< LinearDynamicInt8: leave smaller layers alone.
};

/// Rewrites every chain `policy` accepts, asking context.shouldRewrite first;
/// counts rewrites in `fused` and layers left alone in `skipped` (with a reason
/// on context.debug()). Needs the tsopt runtime linked (it builds the packed weights).
bool fuseLayerChains(torch::jit::Graph& graph, PassContext& context, const ChainPolicy& policy, Statistic& fused,
                     Statistic& skipped);

/// The activations named in a pass's `activations` option; throws tsopt::Error
/// (Usage) for a name not among runtime::activationNames().
std::set<std::string> checkedActivations(const std::string& passName, const std::vector<std::string>& names);

} // namespace tsopt
