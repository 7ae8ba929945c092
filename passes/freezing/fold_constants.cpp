#include "passes/freezing/fold_constants.h"

#include "passes/core/graph_utils.h"
#include "passes/core/node_hashing.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>

#include <functional>
#include <map>
#include <ostream>
#include <tuple>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// Tensor constants of the graph, nested blocks included, in order.
std::vector<std::pair<Node*, at::Tensor>> tensorConstants(Graph& graph) {
  std::vector<std::pair<Node*, at::Tensor>> constants;
  std::function<void(torch::jit::Block*)> visit = [&](torch::jit::Block* block) {
    for (Node* node : block->nodes()) {
      for (torch::jit::Block* child : node->blocks()) {
        visit(child);
      }
      if (node->kind() != c10::prim::Constant) {
        continue;
      }
      auto value = torch::jit::toIValue(node->output());
      if (value && value->isTensor() && isPlainTensor(value->toTensor())) {
        constants.emplace_back(node, value->toTensor());
      }
    }
  };
  visit(graph.block());
  return constants;
}

/// Tensors that may be identical share a key; identicalTensors() decides.
using TensorKey = std::tuple<int, std::vector<int64_t>, std::vector<int64_t>, std::string, bool, size_t>;

TensorKey keyOf(const at::Tensor& tensor) {
  return {static_cast<int>(tensor.scalar_type()), tensor.sizes().vec(), tensor.strides().vec(),
          tensor.device().str(), tensor.requires_grad(), tensorContentHash(tensor)};
}

size_t countNonConstantNodes(const Graph& graph) {
  return countNodes(graph) - countNodesOfKind(graph, c10::prim::Constant);
}

} // namespace

bool FoldConstantsPass::poolIdenticalTensors(std::shared_ptr<Graph>& graph, PassContext& context) {
  struct Representative {
    Node* node;
    at::Tensor tensor;
    bool escapes;
  };
  torch::jit::AliasDb aliasDb(graph);
  std::map<TensorKey, std::vector<Representative>> representatives;
  bool changed = false;
  for (const auto& constant : tensorConstants(*graph)) {
    Node* node = constant.first;
    const at::Tensor& tensor = constant.second;
    Value* value = node->output();
    if (aliasDb.hasWriters(value)) {
      ++keptWritten;
      context.missedText(node) << "not pooling %" << value->debugName() << ": it is written in place";
      continue;
    }
    bool escapes = aliasDb.escapesScope({value});
    auto& bucket = representatives[keyOf(tensor)];
    auto twin = std::find_if(bucket.begin(), bucket.end(),
                             [&](const Representative& rep) { return identicalTensors(rep.tensor, tensor); });
    if (twin == bucket.end()) {
      bucket.push_back({node, tensor, escapes});
      continue;
    }
    Value* kept = twin->node->output();
    if (escapes && twin->escapes) {
      ++keptEscaping;
      context.missedText(node) << "not pooling %" << value->debugName() << " into %" << kept->debugName()
                               << ": both are returned from the graph, and callers would see one object twice";
      continue;
    }
    if (!context.shouldRewrite("pool tensor constant %" + value->debugName() + " into identical %" +
                               kept->debugName())) {
      continue;
    }
    // Constants take no inputs, so the top of the graph dominates every use.
    Node* top = graph->block()->nodes().front();
    if (twin->node != top) {
      twin->node->moveBefore(top);
    }
    value->replaceAllUsesWith(kept);
    node->destroy();
    twin->escapes |= escapes;
    ++pooledTensors;
    changed = true;
  }
  return changed;
}

bool FoldConstantsPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  bool changed = false;
  if (context.shouldRewrite("propagate constants (torch::jit::ConstantPropagation)")) {
    size_t before = countNonConstantNodes(*graph);
    changed |= torch::jit::ConstantPropagation(graph);
    size_t after = countNonConstantNodes(*graph);
    foldedNodes += before > after ? before - after : 0;
  }
  changed |= poolIdenticalTensors(graph, context);
  if (context.shouldRewrite("pool the remaining duplicate constants")) {
    torch::jit::AliasDb aliasDb(graph);
    pooledConstants += poolConstants(*graph, aliasDb, changed);
  }
  return changed;
}

} // namespace tsopt
