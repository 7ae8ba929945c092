#include "passes/quantization/quantize_dynamic.h"

#include "passes/core/graph_utils.h"
#include "passes/freezing/fold_patterns.h"
#include "passes/quantization/quantization_params.h"
#include "passes/quantization/quantization_patterns.h"

#include <torch/csrc/jit/ir/constants.h>

#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// A layer computing x·Wᵀ (+ b) with constant float32 W of shape (out, in).
struct DynamicLayer {
  Node* node = nullptr;
  Value* weightValue = nullptr;  ///< The constant W (linear) or C (matmul) in the graph.
  Value* biasValue = nullptr;    ///< linear's bias input (a tensor or None); none for matmul.
  at::Tensor weight;             ///< W, already transposed for matmul.
  std::optional<at::Tensor> bias;
};

std::optional<DynamicLayer> matchLinearLayer(Node* node, std::string& whyNot) {
  std::optional<LayerMatch> linear = matchLinear(node, whyNot);
  if (!linear) {
    return std::nullopt;
  }
  return DynamicLayer{node, node->input(1), node->input(2), linear->weight, linear->bias};
}

std::optional<DynamicLayer> matchMatmulLayer(Node* node, std::string& whyNot) {
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
  return DynamicLayer{node, node->input(1), nullptr, right->t(), std::nullopt};
}

/// Why `layer` must stay in float32, or "" when it may be quantized.
std::string reasonToKeep(const DynamicLayer& layer, int64_t minSize) {
  auto inputType = layer.node->input(0)->type()->cast<c10::TensorType>();
  if (inputType && inputType->dim() && *inputType->dim() < 2) {
    return "input is " + std::to_string(*inputType->dim()) + "-D; quantized::linear_dynamic needs 2 or more dimensions";
  }
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
           " other use(s); the float32 copy would stay alive next to the int8 one";
  }
  return "";
}

void replaceWithDynamicLinear(torch::jit::Graph& graph, const DynamicLayer& layer, bool reduceRange) {
  c10::IValue packed = prepackLinearWeight(quantizeWeightPerChannel(layer.weight), layer.bias);
  torch::jit::WithInsertPoint guard(layer.node);
  Value* packedValue = graph.insertConstant(packed);
  Value* reduceRangeValue = graph.insertConstant(reduceRange);
  Node* call = graph.insertNode(graph.create(c10::Symbol::fromQualString("quantized::linear_dynamic"),
                                             {layer.node->input(0), packedValue, reduceRangeValue}, 1));
  call->copyMetadata(layer.node);
  Value* replaced = layer.node->output();
  call->output()->setType(replaced->type());
  std::string name = replaced->hasDebugName() ? replaced->debugName() : "";
  replaced->replaceAllUsesWith(call->output());
  layer.node->destroy();
  for (Value* parameter : {layer.weightValue, layer.biasValue}) {
    if (parameter != nullptr) {
      destroyIfDeadConstant(parameter);
    }
  }
  if (!name.empty()) {
    call->output()->setDebugName(name);
  }
}

} // namespace

bool QuantizeDynamicPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  const c10::QEngine packFor = parseQEngine(engine, name());
  std::vector<c10::Symbol> kinds{c10::Symbol::fromQualString("aten::linear")};
  if (matmul) {
    kinds.push_back(c10::Symbol::fromQualString("aten::matmul"));
  }
  Node* leftover = findTrainingLeftover(*graph);
  if (leftover != nullptr) {
    context.debug() << "graph left alone: " << describeNode(leftover)
                    << " is in training mode (quantize an eval-mode module)\n";
  }
  QEngineScope engineScope(packFor);
  bool changed = false;
  for (Node* node : collectNodes(*graph, kinds)) {
    std::string whyNot;
    std::optional<DynamicLayer> layer =
        node->kind() == kinds[0] ? matchLinearLayer(node, whyNot) : matchMatmulLayer(node, whyNot);
    if (layer && leftover != nullptr) {
      ++skipped;
      continue;
    }
    if (layer) {
      whyNot = reasonToKeep(*layer, minSize);
    } else if (whyNot.empty()) {
      continue;
    }
    if (!whyNot.empty()) {
      context.debug() << describeNode(node) << " stays float32: " << whyNot << "\n";
      ++skipped;
      continue;
    }
    if (!context.shouldRewrite("quantize " + describeNode(node))) {
      continue;
    }
    replaceWithDynamicLinear(*graph, *layer, reduceRange);
    ++quantized;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
