#include "passes/fusion/fuse_linear_act.h"

#include "passes/fusion/layer_chain_fusion.h"

namespace tsopt {

bool FuseLinearActivationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  ChainPolicy policy;
  policy.layer = FusedLayerKind::Linear;
  policy.fuseAdd = residualAdd;
  policy.loneLayers = loneLinears;
  policy.activations = checkedActivations(name(), activations);
  return fuseLayerChains(*graph, context, policy, fused, skipped);
}

} // namespace tsopt
