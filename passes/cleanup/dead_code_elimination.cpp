#include "passes/cleanup/dead_code_elimination.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>

namespace tsopt {

bool DeadCodeEliminationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  size_t removed = countRemovedNodes(*graph, [&] { torch::jit::EliminateDeadCode(graph); });
  removedNodes += removed;
  return removed > 0;
}

} // namespace tsopt
