#include "passes/freezing/fold_layer_arith.h"

#include "passes/freezing/layer_folding.h"

namespace tsopt {

bool FoldLayerArithmeticPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  FoldCounts counts;
  bool changed = foldArithmeticIntoLayers(*graph, context, missedRemarksOf(context), counts);
  folded += counts.folded;
  skipped += counts.skipped;
  return changed;
}

} // namespace tsopt
