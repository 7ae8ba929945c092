#include "passes/cleanup/constant_pooling.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/constant_pooling.h>

namespace tsopt {

bool ConstantPoolingPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  std::string before = graph->toString(false);
  pooledConstants += countRemovedNodes(*graph, [&] { torch::jit::ConstantPooling(graph); });
  return graph->toString(false) != before;
}

} // namespace tsopt
