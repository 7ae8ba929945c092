#include "passes/cleanup/lower_tuples.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/lower_tuples.h>

namespace tsopt {

bool LowerTuplesPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  if (all.value() && context.hasModule()) {
    throw Error(ErrorKind::Usage, "lower-tuples{all=true} would change the signature of method '" +
                                      context.methodName() + "'; use it on IR text, not on a module");
  }
  std::string before = graph->toString(false);
  removedNodes += countRemovedNodes(*graph, [&] {
    if (all.value()) {
      torch::jit::LowerAllTuples(graph);
    } else {
      torch::jit::LowerSimpleTuples(graph);
    }
  });
  return graph->toString(false) != before;
}

} // namespace tsopt
