#include "passes/cleanup/common_subexpression_elimination.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/common_subexpression_elimination.h>

namespace tsopt {

bool CommonSubexpressionEliminationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  bool changed = false;
  mergedNodes += countRemovedNodes(*graph, [&] { changed = torch::jit::EliminateCommonSubexpression(graph); });
  return changed;
}

} // namespace tsopt
