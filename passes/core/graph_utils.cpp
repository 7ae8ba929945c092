#include "passes/core/graph_utils.h"

#include <c10/util/Exception.h>

namespace tsopt {
namespace {

template <typename Predicate> size_t countBlockNodes(const torch::jit::Block* block, const Predicate& keep) {
  size_t count = 0;
  for (const torch::jit::Node* node : block->nodes()) {
    count += keep(node) ? 1 : 0;
    for (const torch::jit::Block* child : node->blocks()) {
      count += countBlockNodes(child, keep);
    }
  }
  return count;
}

} // namespace

size_t countNodes(const torch::jit::Graph& graph) {
  return countBlockNodes(graph.block(), [](const torch::jit::Node*) { return true; });
}

size_t countNodesOfKind(const torch::jit::Graph& graph, torch::jit::NodeKind kind) {
  return countBlockNodes(graph.block(), [kind](const torch::jit::Node* node) { return node->kind() == kind; });
}

void replaceGraphContents(torch::jit::Graph& target, torch::jit::Graph& source) {
  target.block()->clear();
  target.block()->cloneFrom(source.block(), [](torch::jit::Value* free) -> torch::jit::Value* {
    TORCH_CHECK(false, "graph has a free variable %", free->debugName());
  });
}

} // namespace tsopt
