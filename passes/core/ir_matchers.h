//===- ir_matchers.h - Layers and dropouts, as every pass family sees them ===//
///
/// Matchers more than one pass family needs: the folding passes fold into the
/// layers matchConvolution and matchLinear accept, the fusion passes fuse
/// them, quantization rewrites linear layers, and canonicalize-traced removes
/// the dropouts remove-dropout removes. Every matcher says why it refused, for
/// --debug-only.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tsopt {

/// Where the output channels sit in a layer's weight tensor.
struct WeightLayout {
  bool transposed = false;  ///< conv_transpose: weight is [in, out/groups, k...].
  int64_t groups = 1;
};

/// A convolution or linear node whose weight (and bias, if any) are constants.
struct LayerMatch {
  torch::jit::Node* node = nullptr;
  at::Tensor weight;
  std::optional<at::Tensor> bias;
  WeightLayout layout;
};

/// aten::conv1d/2d/3d (both padding overloads), aten::conv_transpose1d/2d/3d,
/// aten::_convolution and aten::convolution with constant weight, bias and groups.
std::optional<LayerMatch> matchConvolution(torch::jit::Node* node, std::string& whyNot);

/// aten::linear with a constant weight and bias.
std::optional<LayerMatch> matchLinear(torch::jit::Node* node, std::string& whyNot);

/// Whether `kind` computes a layer of its input and a weight operand:
/// aten::linear, addmm, mm, matmul, and every convolution kind (aten::_convolution and convolution too).
bool isLayerKind(c10::Symbol kind);

/// Whether `kind` changes only a tensor's shape, not its elements or dtype:
/// aten::view, aten::reshape, aten::flatten.
bool isShapeOnlyViewKind(c10::Symbol kind);

/// Whether `kind` is an element-wise op of one tensor (an activation, abs,
/// exp, neg) whose result has the tensor's shape and, for floating-point
/// tensors, its dtype. Its other arguments, if any, must still be checked to
/// be numbers or strings (aten::clamp has tensor overloads too).
bool isUnaryElementwiseKind(c10::Symbol kind);

/// What a node does as a dropout, as far as the graph's constants tell.
enum class DropoutBehavior {
  NotDropout,   ///< Not one of the dropout kinds below.
  Identity,     ///< `train` is the constant False, or p is the constant 0.
  Drops,        ///< Training mode with p > 0: really drops.
  UnknownMode,  ///< `train` or p is not a constant.
};

/// Classifies aten::dropout, feature_dropout, alpha_dropout,
/// feature_alpha_dropout and their in-place forms. ATen returns the input
/// itself for an Identity dropout, so its uses may use the input instead.
DropoutBehavior classifyDropout(const torch::jit::Node* node);

} // namespace tsopt
