#include "passes/cleanup/inline.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/inliner.h>

namespace tsopt {

bool InlinePass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  auto countCalls = [&] {
    return countNodesOfKind(*graph, c10::prim::CallFunction) + countNodesOfKind(*graph, c10::prim::CallMethod);
  };
  size_t before = countCalls();
  if (before == 0) {
    return false;
  }
  torch::jit::Inline(*graph);
  size_t after = countCalls();
  inlinedCalls += before > after ? before - after : 0;
  return before != after;
}

} // namespace tsopt
