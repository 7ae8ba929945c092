#include "passes/freezing/fold_linear_bn.h"

#include "passes/freezing/layer_folding.h"

namespace tsopt {

bool FoldLinearBatchNormPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  FoldCounts counts;
  bool changed = foldBatchNormsInto(*graph, context, missedRemarksOf(context), matchLinear, linearOutputIs2D, counts);
  folded += counts.folded;
  skipped += counts.skipped;
  return changed;
}

} // namespace tsopt
