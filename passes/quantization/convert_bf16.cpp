#include "passes/quantization/convert_bf16.h"

#include "passes/quantization/precision_casts.h"
#include "passes/quantization/weighted_layers.h"

#include <torch/csrc/jit/ir/constants.h>

#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kTo = c10::Symbol::fromQualString("aten::to");

/// The bf16 value `input` is the float32 cast of, when this run converted the
/// layer that made it: reading it directly skips an exact round trip.
Value* bf16Source(Value* input, const std::unordered_set<Value*>& bf16Results) {
  Node* producer = input->node();
  bool cast = producer->kind() == kTo && producer->inputs().size() == 5 && bf16Results.count(producer->input(0)) > 0;
  return cast ? producer->input(0) : nullptr;
}

void convertLayer(torch::jit::Graph& graph, const WeightedLayer& layer, std::unordered_set<Value*>& bf16Results) {
  Node* node = layer.node;
  torch::jit::WithInsertPoint guard(node);
  // matmul keeps its (in, out) constant; linear its (out, in) weight.
  at::Tensor weight = node->kind() == c10::Symbol::fromQualString("aten::matmul") ? layer.weight.t() : layer.weight;
  std::vector<Value*> inputs{nullptr, graph.insertConstant(weight.to(at::kBFloat16).contiguous())};
  if (layer.biasValue != nullptr) {
    inputs.push_back(layer.bias ? graph.insertConstant(layer.bias->to(at::kBFloat16)) : layer.biasValue);
  }
  inputs[0] = bf16Source(node->input(0), bf16Results);
  if (inputs[0] == nullptr) {
    inputs[0] = insertCast(graph, node->input(0), at::kBFloat16);
  }
  Node* computed = graph.insertNode(graph.create(node->kind(), inputs, 1));
  computed->copyMetadata(node);
  computed->output()->setType(c10::TensorType::get());
  bf16Results.insert(computed->output());
  replaceWeightedLayer(layer, insertCast(graph, computed->output(), at::kFloat));
}

} // namespace

bool ConvertBf16Pass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  std::unordered_set<Value*> bf16Results;
  return rewriteWeightedLayers(
      *graph, context, matmul, "convert",
      [&](const WeightedLayer& layer) { return reasonToKeepFloat(layer, minSize, "bf16"); },
      [&](const WeightedLayer& layer) { convertLayer(*graph, layer, bf16Results); }, converted, skipped);
}

} // namespace tsopt
