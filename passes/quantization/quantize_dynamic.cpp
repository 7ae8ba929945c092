#include "passes/quantization/quantize_dynamic.h"

#include "passes/quantization/quantization_params.h"
#include "passes/quantization/weighted_layers.h"

#include "passes/core/error.h"
#include "passes/core/reduce_range.h"

#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <cctype>
#include <set>

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

const char kFrozenPrefix[] = "self.";

} // namespace

bool keepFloatNamesWeight(const std::string& entry, const std::string& weightName) {
  std::string path = kFrozenPrefix + entry;
  return weightName == entry || weightName == path || weightName.rfind(path + ".", 0) == 0;
}

std::string keepFloatEntryFor(const std::string& weightName) {
  if (weightName.rfind(kFrozenPrefix, 0) != 0) {
    return weightName;
  }
  std::string name = weightName.substr(sizeof(kFrozenPrefix) - 1);
  size_t dot = name.rfind('.');
  if (dot == std::string::npos) {
    return name;
  }
  std::string last = name.substr(dot + 1);
  // A uniqued copy ("fc.weight.1") is named in full, or "fc" would take both.
  if (std::all_of(last.begin(), last.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return name;
  }
  return name.substr(0, dot);
}

bool QuantizeDynamicPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  const c10::QEngine packFor = parseQEngine(engine, name());
  QEngineScope engineScope(packFor);
  const bool reduce = parseReduceRange(reduceRange.value(), name());
  std::set<std::string> unused(keepFloat.value().begin(), keepFloat.value().end());
  auto keptByOption = [&](const WeightedLayer& layer) -> std::string {
    const std::string& weightName = layer.weightValue->debugName();
    std::string reason;
    for (const std::string& entry : keepFloat.value()) {
      if (keepFloatNamesWeight(entry, weightName)) {
        unused.erase(entry);
        reason = reason.empty() ? "keep-float names it ('" + entry + "')" : reason;
      }
    }
    return reason;
  };
  bool changed = rewriteWeightedLayers(
      *graph, context, matmul, "quantize",
      [&](const WeightedLayer& layer) {
        std::string kept = keptByOption(layer);
        return kept.empty() ? reasonToKeep(layer, minSize) : kept;
      },
      [&](const WeightedLayer& layer) { replaceWithDynamicLinear(*graph, layer, reduce); }, quantized, skipped);
  // A training-mode graph is left alone before keep-float is read.
  if (!unused.empty() && findTrainingLeftover(*graph) == nullptr) {
    throw Error(ErrorKind::Usage, name() + ": keep-float: no layer's weight is named by '" + *unused.begin() +
                                      "' (give the submodule path of a frozen linear layer, e.g. encoder.0.fc, or "
                                      "its weight's name)");
  }
  return changed;
}

} // namespace tsopt
