#include "passes/cleanup/common_subexpression_elimination.h"

#include "passes/core/graph_utils.h"
#include "passes/core/node_hashing.h"

namespace tsopt {

bool CommonSubexpressionEliminationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  size_t merged = eliminateCommonSubexpressions(graph, [&](torch::jit::Node* node, torch::jit::Node* earlier) {
    return context.shouldRewrite("merge " + describeNode(node) + " into " + describeNode(earlier), node);
  });
  mergedNodes += merged;
  return merged > 0;
}

} // namespace tsopt
