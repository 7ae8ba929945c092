#include "passes/cleanup/constant_propagation.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/constant_propagation.h>

namespace tsopt {

bool ConstantPropagationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  bool changed = false;
  removedNodes += countRemovedNodes(*graph, [&] {
    changed = torch::jit::ConstantPropagation(graph, ignoreCustomClasses.value());
  });
  return changed;
}

} // namespace tsopt
