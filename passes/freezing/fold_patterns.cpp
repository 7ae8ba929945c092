#include "passes/freezing/fold_patterns.h"

#include "passes/core/graph_utils.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>

#include <ostream>
#include <sstream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

struct ConvolutionSignature {
  const char* kind;
  bool transposed;  ///< For aten::_convolution, read from its `transposed` input instead.
  size_t groupsInput;
};

const std::vector<ConvolutionSignature>& convolutionSignatures() {
  static const std::vector<ConvolutionSignature> signatures = {
      {"aten::conv1d", false, 6},           {"aten::conv2d", false, 6},           {"aten::conv3d", false, 6},
      {"aten::conv_transpose1d", true, 6}, {"aten::conv_transpose2d", true, 6}, {"aten::conv_transpose3d", true, 6},
      {"aten::_convolution", false, 8},
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

} // namespace

std::optional<at::Tensor> constantTensor(Value* value) {
  auto constant = torch::jit::toIValue(value);
  if (!constant || !constant->isTensor()) {
    return std::nullopt;
  }
  return constant->toTensor();
}

bool isNoneConstant(Value* value) {
  auto constant = torch::jit::toIValue(value);
  return constant && constant->isNone();
}

std::string describeNode(const Node* node) {
  std::ostringstream text;
  if (node->outputs().size() == 1) {
    text << "%" << node->output()->debugName() << " = ";
  }
  text << node->kind().toQualString();
  return text.str();
}

std::optional<LayerMatch> matchConvolution(Node* node, std::string& whyNot) {
  const std::string kind = node->kind().toQualString();
  for (const ConvolutionSignature& signature : convolutionSignatures()) {
    if (kind != signature.kind) {
      continue;
    }
    if (node->inputs().size() <= signature.groupsInput) {
      whyNot = "unexpected number of inputs";
      return std::nullopt;
    }
    LayerMatch layer;
    layer.layout.transposed = signature.transposed;
    if (kind == "aten::_convolution") {
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
    return layer;
  }
  whyNot = "not a convolution";
  return std::nullopt;
}

std::optional<LayerMatch> matchLinear(Node* node, std::string& whyNot) {
  if (node->kind() != c10::Symbol::fromQualString("aten::linear") || node->inputs().size() != 3) {
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
  return layer;
}

std::optional<BatchNormMatch> matchEvalBatchNorm(Node* node, std::string& whyNot) {
  // aten::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled)
  if (node->kind() != c10::Symbol::fromQualString("aten::batch_norm") || node->inputs().size() != 9) {
    whyNot = "not aten::batch_norm";
    return std::nullopt;
  }
  auto training = torch::jit::constant_as<bool>(node->input(5));
  if (!training || *training) {
    whyNot = training ? "batch norm is in training mode" : "training flag is not a constant";
    return std::nullopt;
  }
  auto mean = constantTensor(node->input(3));
  auto var = constantTensor(node->input(4));
  auto eps = torch::jit::constant_as<double>(node->input(7));
  if (!mean || !var || !eps) {
    whyNot = "running statistics or eps are not constants";
    return std::nullopt;
  }
  std::optional<at::Tensor> gamma;
  std::optional<at::Tensor> beta;
  for (size_t index : {1, 2}) {
    Value* input = node->input(index);
    if (isNoneConstant(input)) {
      continue;
    }
    auto tensor = constantTensor(input);
    if (!tensor) {
      whyNot = "affine parameters are not constants";
      return std::nullopt;
    }
    (index == 1 ? gamma : beta) = *tensor;
  }
  int64_t channels = mean->numel();
  for (const std::optional<at::Tensor>& parameter : {std::optional<at::Tensor>(*var), gamma, beta}) {
    if (parameter && parameter->numel() != channels) {
      whyNot = "batch norm parameters disagree in size";
      return std::nullopt;
    }
  }
  if (!mean->is_floating_point() || !var->is_floating_point()) {
    whyNot = "running statistics are not floating point";
    return std::nullopt;
  }
  return BatchNormMatch{node, batchNormAsAffine(gamma, beta, *mean, *var, *eps)};
}

std::optional<LayerMatch> soleProducer(Value* value, LayerMatcher matcher, std::string& whyNot) {
  auto layer = matcher(value->node(), whyNot);
  if (!layer) {
    return std::nullopt;
  }
  if (value->uses().size() != 1) {
    whyNot = "the output of " + describeNode(value->node()) + " has other uses";
    return std::nullopt;
  }
  return layer;
}

bool channelsAgree(const LayerMatch& layer, const Affine& affine, std::string& whyNot) {
  int64_t channels = outputChannels(layer.weight, layer.layout);
  if (affine.scale.numel() == channels && affine.shift.numel() == channels &&
      (!layer.bias || layer.bias->numel() == channels)) {
    return true;
  }
  whyNot = "channel counts differ (" + std::to_string(channels) + " output channels, " +
           std::to_string(affine.scale.numel()) + " per-channel factors)";
  return false;
}

void foldIntoLayer(const LayerMatch& layer, const Affine& affine) {
  replaceParameters(layer, foldAffine(layer.weight, layer.bias, affine.scale, affine.shift, layer.layout));
}

void replaceParameters(const LayerMatch& layer, const FoldedParams& params) {
  torch::jit::Graph* graph = layer.node->owningGraph();
  torch::jit::WithInsertPoint guard(layer.node);
  Value* weight = graph->insertConstant(params.weight);
  Value* bias = graph->insertConstant(params.bias);
  weight->setType(c10::TensorType::create(params.weight));
  bias->setType(c10::TensorType::create(params.bias));
  layer.node->replaceInput(1, weight);
  layer.node->replaceInput(2, bias);
}

} // namespace tsopt

namespace tsopt {

bool foldBatchNormsInto(torch::jit::Graph& graph, PassContext& context, LayerMatcher matcher,
                        const std::function<bool(const LayerMatch&, std::string&)>& admissible, Statistic& folded,
                        Statistic& skipped) {
  bool changed = false;
  for (Node* norm : collectNodes(graph, {c10::Symbol::fromQualString("aten::batch_norm")})) {
    std::string whyNot;
    auto batchNorm = matchEvalBatchNorm(norm, whyNot);
    auto layer = batchNorm ? soleProducer(norm->input(0), matcher, whyNot) : std::nullopt;
    if (layer && admissible && !admissible(*layer, whyNot)) {
      layer.reset();
    }
    if (!layer || !channelsAgree(*layer, batchNorm->affine, whyNot)) {
      ++skipped;
      context.debug() << "kept " << describeNode(norm) << ": " << whyNot << "\n";
      continue;
    }
    if (!context.shouldRewrite("fold " + describeNode(norm) + " into " + describeNode(layer->node))) {
      continue;
    }
    foldIntoLayer(*layer, batchNorm->affine);
    norm->output()->replaceAllUsesWith(layer->node->output());
    norm->destroy();
    ++folded;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
