#include "passes/freezing/layer_folding.h"

#include "passes/core/graph_utils.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>

#include <ostream>

namespace tsopt {

using torch::jit::Node;
using torch::jit::Value;

std::optional<BatchNormMatch> matchEvalBatchNorm(Node* node, std::string& whyNot) {
  // aten::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled)
  if (node->kind() != c10::aten::batch_norm || node->inputs().size() != 9) {
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

bool foldBatchNormsInto(torch::jit::Graph& graph, PassContext& context, LayerMatcher matcher,
                        const std::function<bool(const LayerMatch&, std::string&)>& admissible, Statistic& folded,
                        Statistic& skipped) {
  bool changed = false;
  for (Node* norm : collectNodes(graph, {c10::aten::batch_norm})) {
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
