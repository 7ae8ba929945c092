#include "passes/cleanup/remove_mutation.h"

#include <torch/csrc/jit/passes/remove_mutation.h>

namespace tsopt {
namespace {

size_t countInPlaceNodes(const torch::jit::Block* block) {
  size_t count = 0;
  for (const torch::jit::Node* node : block->nodes()) {
    const std::string name = node->kind().toUnqualString();
    count += (node->kind().is_aten() && !name.empty() && name.back() == '_') ? 1 : 0;
    for (const torch::jit::Block* child : node->blocks()) {
      count += countInPlaceNodes(child);
    }
  }
  return count;
}

} // namespace

bool RemoveMutationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  size_t before = countInPlaceNodes(graph->block());
  bool changed = torch::jit::RemoveTensorMutation(graph);
  size_t after = countInPlaceNodes(graph->block());
  rewrittenNodes += before > after ? before - after : 0;
  return changed;
}

} // namespace tsopt
