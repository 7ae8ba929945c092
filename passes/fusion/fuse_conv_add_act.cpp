#include "passes/fusion/fuse_conv_add_act.h"

#include "passes/fusion/layer_chain_fusion.h"

namespace tsopt {

bool FuseConvAddActivationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  ChainPolicy policy;
  policy.layer = FusedLayerKind::Conv2d;
  policy.fuseAdd = true;
  policy.requireAdd = true;
  policy.activations = checkedActivations(name(), activations);
  return fuseLayerChains(*graph, context, policy, fused, skipped);
}

} // namespace tsopt
