#include "passes/freezing/fold_conv_bn.h"

#include "passes/freezing/layer_folding.h"

namespace tsopt {

bool FoldConvBatchNormPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  FoldCounts counts;
  bool changed = foldBatchNormsInto(*graph, context, missedRemarksOf(context), matchConvolution, nullptr, counts);
  folded += counts.folded;
  skipped += counts.skipped;
  return changed;
}

} // namespace tsopt
