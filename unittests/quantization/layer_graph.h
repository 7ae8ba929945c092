//===- layer_graph.h - One-layer graphs for the quantization tests --------===//
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <optional>

namespace tsopt::testing_layers {

using torch::jit::Graph;

/// graph(%x): returns aten::linear(%x, W, b), or aten::matmul(%x, Wᵀ), with real constants.
inline std::shared_ptr<Graph> layerGraph(const at::Tensor& weight, const std::optional<at::Tensor>& bias, bool asMatmul) {
  auto graph = std::make_shared<Graph>();
  torch::jit::Value* x = graph->addInput("x");
  torch::jit::Value* w = graph->insertConstant(asMatmul ? weight.t().contiguous() : weight);
  torch::jit::Node* node;
  if (asMatmul) {
    node = graph->create(c10::Symbol::fromQualString("aten::matmul"), {x, w}, 1);
  } else {
    torch::jit::Value* b = bias ? graph->insertConstant(*bias) : graph->insertConstant(c10::IValue());
    node = graph->create(c10::Symbol::fromQualString("aten::linear"), {x, w, b}, 1);
  }
  graph->insertNode(node);
  graph->registerOutput(node->output());
  return graph;
}

inline at::Tensor runGraph(const std::shared_ptr<Graph>& graph, const at::Tensor& input) {
  torch::jit::GraphFunction function("forward", graph->copy(), nullptr);
  return function({input}).toTensor();
}

inline size_t countKind(const Graph& graph, const char* kind) {
  size_t count = 0;
  for (const torch::jit::Node* node : graph.nodes()) {
    count += node->kind() == c10::Symbol::fromQualString(kind);
  }
  return count;
}

inline double cosine(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.flatten().to(at::kDouble);
  at::Tensor y = b.flatten().to(at::kDouble);
  return (x.dot(y) / (x.norm() * y.norm())).item<double>();
}

} // namespace tsopt::testing_layers
