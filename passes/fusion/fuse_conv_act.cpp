#include "passes/fusion/fuse_conv_act.h"

#include "passes/fusion/layer_chain_fusion.h"

namespace tsopt {

bool FuseConvActivationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  ChainPolicy policy;
  policy.layer = FusedLayerKind::Conv2d;
  policy.loneLayers = loneConvs;
  policy.activations = checkedActivations(name(), activations);
  return fuseLayerChains(*graph, context, policy, fused, skipped);
}

} // namespace tsopt
