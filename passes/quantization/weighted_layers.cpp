#include "passes/quantization/weighted_layers.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"
#include "passes/core/ir_matchers.h"

#include <torch/csrc/jit/ir/constants.h>

#include <ostream>
#include <utility>
#include <vector>

namespace tsopt {

std::optional<WeightedLayer> matchWeightedLayer(torch::jit::Node* node, std::string& whyNot) {
  if (node->kind() == c10::Symbol::fromQualString("aten::linear")) {
    std::optional<LayerMatch> linear = matchLinear(node, whyNot);
    if (!linear) {
      return std::nullopt;
    }
    return WeightedLayer{node, node->input(1), node->input(2), linear->weight, linear->bias};
  }
  if (node->kind() != c10::Symbol::fromQualString("aten::matmul")) {
    return std::nullopt;
  }
  if (constantTensor(node->input(0)) && !constantTensor(node->input(1))) {
    whyNot = "the constant is matmul's left operand";
    return std::nullopt;
  }
  std::optional<at::Tensor> right = constantTensor(node->input(1));
  if (!right) {
    return std::nullopt;  // Activation times activation (attention): not a layer at all.
  }
  if (right->dim() != 2) {
    whyNot = "constant operand is " + std::to_string(right->dim()) + "-D, not 2-D";
    return std::nullopt;
  }
  return WeightedLayer{node, node->input(1), nullptr, right->t(), std::nullopt};
}

std::string reasonToKeepFloat(const WeightedLayer& layer, int64_t minSize, const std::string& target) {
  if (layer.weight.scalar_type() != at::kFloat) {
    return std::string("weight is ") + c10::toString(layer.weight.scalar_type()) + ", not Float";
  }
  if (layer.bias && layer.bias->scalar_type() != at::kFloat) {
    return std::string("bias is ") + c10::toString(layer.bias->scalar_type()) + ", not Float";
  }
  if (layer.weight.requires_grad() || (layer.bias && layer.bias->requires_grad())) {
    return "weight or bias requires grad (training-mode leftover; freeze an eval-mode module)";
  }
  if (layer.weight.numel() < minSize) {
    return "weight has " + std::to_string(layer.weight.numel()) + " elements, fewer than min-size " +
           std::to_string(minSize);
  }
  if (layer.weightValue->uses().size() > 1) {
    return "weight has " + std::to_string(layer.weightValue->uses().size() - 1) +
           " other use(s); the float32 copy would stay alive next to the " + target + " one";
  }
  return "";
}

torch::jit::Node* findTrainingLeftover(torch::jit::Graph& graph) {
  // (kind, index of the training flag)
  static const std::vector<std::pair<const char*, size_t>> trainingFlags = {
      {"aten::dropout", 2},       {"aten::dropout_", 2},       {"aten::feature_dropout", 2},
      {"aten::alpha_dropout", 2}, {"aten::feature_alpha_dropout", 2}, {"aten::batch_norm", 5},
  };
  std::vector<torch::jit::NodeKind> kinds;
  for (const auto& entry : trainingFlags) {
    kinds.push_back(c10::Symbol::fromQualString(entry.first));
  }
  for (torch::jit::Node* node : collectNodes(graph, kinds)) {
    for (const auto& [kind, index] : trainingFlags) {
      if (node->kind() != c10::Symbol::fromQualString(kind) || node->inputs().size() <= index) {
        continue;
      }
      auto training = torch::jit::constant_as<bool>(node->input(index));
      if (!training || *training) {
        return node;
      }
    }
  }
  return nullptr;
}

void destroyIfDeadConstant(torch::jit::Value* value) {
  if (value->node()->kind() == c10::prim::Constant && value->uses().empty()) {
    value->node()->destroy();
  }
}

void replaceWeightedLayer(const WeightedLayer& layer, torch::jit::Value* result) {
  replaceAndDestroy(layer.node->output(), result, {layer.node});
  for (torch::jit::Value* parameter : {layer.weightValue, layer.biasValue}) {
    if (parameter != nullptr) {
      destroyIfDeadConstant(parameter);
    }
  }
}

bool rewriteWeightedLayers(torch::jit::Graph& graph, PassContext& context, bool withMatmul, const std::string& verb,
                           const std::function<std::string(const WeightedLayer&)>& reasonToKeep,
                           const std::function<void(const WeightedLayer&)>& rewrite, Statistic& rewritten,
                           Statistic& skipped) {
  std::vector<c10::Symbol> kinds{c10::Symbol::fromQualString("aten::linear")};
  if (withMatmul) {
    kinds.push_back(c10::Symbol::fromQualString("aten::matmul"));
  }
  torch::jit::Node* leftover = findTrainingLeftover(graph);
  if (leftover != nullptr) {
    context.missedText(leftover) << "graph left alone: " << describeNode(leftover) << " is in training mode ("
                                 << verb << " an eval-mode module)";
  }
  bool changed = false;
  for (torch::jit::Node* node : collectNodes(graph, kinds)) {
    std::string whyNot;
    std::optional<WeightedLayer> layer = matchWeightedLayer(node, whyNot);
    if (layer && leftover != nullptr) {
      ++skipped;
      continue;
    }
    if (layer) {
      whyNot = reasonToKeep(*layer);
    } else if (whyNot.empty()) {
      continue;
    }
    if (!whyNot.empty()) {
      context.missedText(node).arg("reason", whyNot) << describeNode(node) << " stays float32: " << whyNot;
      ++skipped;
      continue;
    }
    if (!context.shouldRewrite(verb + " " + describeNode(node), node)) {
      continue;
    }
    rewrite(*layer);
    ++rewritten;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
