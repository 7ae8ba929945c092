#include "passes/freezing/fold_conv_add_mul.h"

#include "passes/freezing/layer_folding.h"

namespace tsopt {

bool FoldConvAddMulPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  FoldCounts counts;
  bool changed = foldArithmeticIntoConvolutions(*graph, context, missedRemarksOf(context), counts);
  folded += counts.folded;
  skipped += counts.skipped;
  return changed;
}

} // namespace tsopt
