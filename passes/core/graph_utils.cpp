#include "passes/core/graph_utils.h"

#include <c10/util/Exception.h>

#include <algorithm>

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

static void collectBlockNodes(torch::jit::Block* block, const std::vector<torch::jit::NodeKind>& kinds,
                              std::vector<torch::jit::Node*>& found) {
  for (torch::jit::Node* node : block->nodes()) {
    if (std::find(kinds.begin(), kinds.end(), node->kind()) != kinds.end()) {
      found.push_back(node);
    }
    for (torch::jit::Block* child : node->blocks()) {
      collectBlockNodes(child, kinds, found);
    }
  }
}

std::vector<torch::jit::Node*> collectNodes(torch::jit::Graph& graph, const std::vector<torch::jit::NodeKind>& kinds) {
  std::vector<torch::jit::Node*> found;
  collectBlockNodes(graph.block(), kinds, found);
  return found;
}

void replaceGraphContents(torch::jit::Graph& target, torch::jit::Graph& source) {
  target.block()->clear();
  target.block()->cloneFrom(source.block(), [](torch::jit::Value* free) -> torch::jit::Value* {
    TORCH_CHECK(false, "graph has a free variable %", free->debugName());
  });
}

} // namespace tsopt
