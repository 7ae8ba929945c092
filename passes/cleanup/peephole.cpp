#include "passes/cleanup/peephole.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/peephole.h>

namespace tsopt {

bool PeepholePass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  bool changed = false;
  removedNodes += countRemovedNodes(*graph, [&] {
    changed = torch::jit::PeepholeOptimize(graph, disableShapePeepholes.value());
  });
  return changed;
}

} // namespace tsopt
