#include "passes/cleanup/canonicalize.h"

#include <torch/csrc/jit/passes/canonicalize.h>

namespace tsopt {

bool CanonicalizePass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext&) {
  std::string before = graph->toString(false);
  std::shared_ptr<torch::jit::Graph> canonical = torch::jit::Canonicalize(graph, keepUniqueNames.value());
  if (canonical->toString(false) == before) {
    return false;
  }
  graph = canonical;
  return true;
}

} // namespace tsopt
