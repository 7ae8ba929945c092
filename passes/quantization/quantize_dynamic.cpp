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

/// Why `layer` must stay in float32, or "" when it may be quantized.
std::string reasonToKeep(const WeightedLayer& layer, int64_t minSize) {
  auto inputType = layer.node->input(0)->type()->cast<c10::TensorType>();
  if (inputType && inputType->dim() && *inputType->dim() < 2) {
    return "input is " + std::to_string(*inputType->dim()) + "-D; quantized::linear_dynamic needs 2 or more dimensions";
  }
  return reasonToKeepFloat(layer, minSize, "int8");
}

void replaceWithDynamicLinear(torch::jit::Graph& graph, const WeightedLayer& layer, bool reduceRange) {
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
    std::optional<WeightedLayer> layer = matchWeightedLayer(node, whyNot);
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
