#include "passes/quantization/quantize_dynamic.h"

#include "passes/quantization/quantization_params.h"
#include "passes/quantization/weighted_layers.h"

#include <torch/csrc/jit/ir/constants.h>


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
  call->output()->setType(layer.node->output()->type());
  replaceWeightedLayer(layer, call->output());
}

} // namespace

bool QuantizeDynamicPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  const c10::QEngine packFor = parseQEngine(engine, name());
  QEngineScope engineScope(packFor);
  const bool reduce = parseReduceRange(reduceRange.value(), name());
  return rewriteWeightedLayers(
      *graph, context, matmul, "quantize", [&](const WeightedLayer& layer) { return reasonToKeep(layer, minSize); },
      [&](const WeightedLayer& layer) { replaceWithDynamicLinear(*graph, layer, reduce); }, quantized, skipped);
}

} // namespace tsopt
