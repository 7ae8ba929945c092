#include "passes/cleanup/canonicalize.h"

#include <torch/csrc/jit/passes/canonicalize.h>

namespace tsopt {
namespace {

// torch::jit::Canonicalize(graph, false) clears the names of graph inputs and
// top-level node outputs only; values defined in nested blocks keep theirs.
void clearNamesInBlocks(torch::jit::Block* block) {
  for (torch::jit::Node* node : block->nodes()) {
    for (torch::jit::Block* child : node->blocks()) {
      for (torch::jit::Value* input : child->inputs()) {
        input->setDebugName("");
      }
      for (torch::jit::Node* inner : child->nodes()) {
        for (torch::jit::Value* output : inner->outputs()) {
          output->setDebugName("");
        }
      }
      clearNamesInBlocks(child);
    }
  }
}

} // namespace

bool CanonicalizePass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  std::string before = graph->toString(false);
  std::shared_ptr<torch::jit::Graph> canonical = torch::jit::Canonicalize(graph, keepUniqueNames.value());
  if (!keepUniqueNames.value()) {
    clearNamesInBlocks(canonical->block());
  }
  if (canonical->toString(false) == before) {
    return false;
  }
  graph = canonical;
  return true;
}

} // namespace tsopt
