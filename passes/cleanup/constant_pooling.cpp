#include "passes/cleanup/constant_pooling.h"

#include "passes/core/node_hashing.h"

#include <torch/csrc/jit/ir/alias_analysis.h>

namespace tsopt {

bool ConstantPoolingPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  torch::jit::AliasDb aliasDb(graph);
  bool changed = false;
  pooledConstants += poolConstants(*graph, aliasDb, changed);
  return changed;
}

} // namespace tsopt
