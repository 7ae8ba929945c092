#include "passes/freezing/fold_conv_bn.h"

#include "passes/freezing/layer_folding.h"

namespace tsopt {

bool FoldConvBatchNormPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  return foldBatchNormsInto(*graph, context, matchConvolution, nullptr, folded, skipped);
}

} // namespace tsopt
