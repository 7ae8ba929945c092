#include "passes/core/ir_matchers.h"

#include "passes/core/graph_utils.h"

#include <c10/util/StringUtil.h>
#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <vector>

namespace tsopt {
namespace {

using torch::jit::Node;

struct ConvolutionSignature {
  c10::Symbol kind;
  bool transposed;  ///< For aten::_convolution, read from its `transposed` input instead.
  size_t groupsInput;
};

const std::vector<ConvolutionSignature>& convolutionSignatures() {
  static const std::vector<ConvolutionSignature> signatures = {
      {c10::aten::conv1d, false, 6},           {c10::aten::conv2d, false, 6},
      {c10::aten::conv3d, false, 6},           {c10::aten::conv_transpose1d, true, 6},
      {c10::aten::conv_transpose2d, true, 6}, {c10::aten::conv_transpose3d, true, 6},
      {c10::aten::_convolution, false, 8},    {c10::aten::convolution, false, 8},
  };
  return signatures;
}

bool constantParameters(Node* node, LayerMatch& layer, std::string& whyNot) {
  auto weight = constantTensor(node->input(1));
  if (!weight) {
    whyNot = "weight is not a constant (freeze first)";
    return false;
  }
  if (!weight->is_floating_point()) {
    whyNot = "weight is not floating point";
    return false;
  }
  layer.node = node;
  layer.weight = *weight;
  if (!isNoneConstant(node->input(2))) {
    layer.bias = constantTensor(node->input(2));
    if (!layer.bias) {
      whyNot = "bias is not a constant";
      return false;
    }
  }
  return true;
}

/// A bias with one value per output channel: the graph fails at run time
/// otherwise, and no fold or fusion may pack it.
bool biasMatches(const LayerMatch& layer, int64_t outChannels, std::string& whyNot) {
  if (layer.bias && (layer.bias->dim() != 1 || layer.bias->size(0) != outChannels)) {
    whyNot = "bias of shape " + c10::str(layer.bias->sizes()) + " does not match the " + std::to_string(outChannels) +
             " output channels";
    return false;
  }
  return true;
}

} // namespace

std::optional<LayerMatch> matchConvolution(Node* node, std::string& whyNot) {
  for (const ConvolutionSignature& signature : convolutionSignatures()) {
    if (node->kind() != signature.kind) {
      continue;
    }
    if (node->inputs().size() <= signature.groupsInput) {
      whyNot = "unexpected number of inputs";
      return std::nullopt;
    }
    LayerMatch layer;
    layer.layout.transposed = signature.transposed;
    if (node->kind() == c10::aten::_convolution || node->kind() == c10::aten::convolution) {
      auto transposed = torch::jit::constant_as<bool>(node->input(6));
      if (!transposed) {
        whyNot = "transposed flag is not a constant";
        return std::nullopt;
      }
      layer.layout.transposed = *transposed;
    }
    auto groups = torch::jit::constant_as<int64_t>(node->input(signature.groupsInput));
    if (!groups || *groups < 1) {
      whyNot = "groups is not a positive constant";
      return std::nullopt;
    }
    layer.layout.groups = *groups;
    if (!constantParameters(node, layer, whyNot)) {
      return std::nullopt;
    }
    if (layer.weight.dim() < 2) {
      whyNot = "weight has fewer than 2 dimensions";
      return std::nullopt;
    }
    const int64_t outChannels = layer.layout.transposed ? layer.weight.size(1) * *groups : layer.weight.size(0);
    if (!biasMatches(layer, outChannels, whyNot)) {
      return std::nullopt;
    }
    return layer;
  }
  whyNot = "not a convolution";
  return std::nullopt;
}

std::optional<LayerMatch> matchLinear(Node* node, std::string& whyNot) {
  if (node->kind() != c10::aten::linear || node->inputs().size() != 3) {
    whyNot = "not aten::linear";
    return std::nullopt;
  }
  LayerMatch layer;
  if (!constantParameters(node, layer, whyNot)) {
    return std::nullopt;
  }
  if (layer.weight.dim() != 2) {
    whyNot = "weight is not 2-D";
    return std::nullopt;
  }
  if (!biasMatches(layer, layer.weight.size(0), whyNot)) {
    return std::nullopt;
  }
  return layer;
}

DropoutBehavior classifyDropout(const Node* node) {
  static const std::vector<c10::Symbol> kinds = {
      c10::aten::dropout,       c10::aten::dropout_,       c10::aten::feature_dropout,
      c10::aten::feature_dropout_, c10::aten::alpha_dropout, c10::aten::alpha_dropout_,
      c10::aten::feature_alpha_dropout, c10::aten::feature_alpha_dropout_,
  };
  if (node->inputs().size() != 3 || node->outputs().size() != 1 ||
      std::find(kinds.begin(), kinds.end(), node->kind()) == kinds.end()) {
    return DropoutBehavior::NotDropout;
  }
  auto train = torch::jit::constant_as<bool>(node->input(2));
  auto probability = torch::jit::constant_as<double>(node->input(1));
  if ((train && !*train) || (probability && *probability == 0.0)) {
    return DropoutBehavior::Identity;
  }
  return train && probability ? DropoutBehavior::Drops : DropoutBehavior::UnknownMode;
}

bool isLayerKind(c10::Symbol kind) {
  static const std::vector<c10::Symbol> kinds = {
      c10::aten::linear,           c10::aten::addmm,           c10::aten::mm,
      c10::aten::matmul,           c10::aten::conv1d,          c10::aten::conv2d,
      c10::aten::conv3d,           c10::aten::conv_transpose1d, c10::aten::conv_transpose2d,
      c10::aten::conv_transpose3d, c10::aten::_convolution,    c10::aten::convolution};
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

bool isShapeOnlyViewKind(c10::Symbol kind) {
  return kind == c10::aten::view || kind == c10::aten::reshape || kind == c10::aten::flatten;
}

bool isUnaryElementwiseKind(c10::Symbol kind) {
  static const std::vector<c10::Symbol> kinds = {
      c10::aten::relu,      c10::aten::gelu,        c10::aten::silu,     c10::aten::sigmoid,
      c10::aten::tanh,      c10::aten::hardswish,   c10::aten::hardsigmoid, c10::aten::hardtanh,
      c10::aten::clamp,     c10::aten::elu,         c10::aten::leaky_relu, c10::aten::mish,
      c10::aten::softplus,  c10::aten::abs,         c10::aten::exp,      c10::aten::neg,
      c10::Symbol::fromQualString("aten::relu6")};
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

} // namespace tsopt
