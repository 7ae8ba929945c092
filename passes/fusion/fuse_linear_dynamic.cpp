#include "passes/fusion/fuse_linear_dynamic.h"

#include "passes/core/error.h"
#include "passes/fusion/layer_chain_fusion.h"
#include "runtime/linear_dynamic.h"

namespace tsopt {
namespace {

bool reduceRangeFor(const std::string& value, const std::string& owner) {
  if (value == "true" || value == "false") {
    return value == "true";
  }
  if (value != "auto") {
    throw Error(ErrorKind::Usage, owner + ": reduce-range='" + value + "': expected auto, true or false");
  }
  return runtime::reduceRangeByDefault();
}

} // namespace

bool FuseLinearDynamicPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  ChainPolicy policy;
  policy.layer = FusedLayerKind::LinearDynamicInt8;
  policy.fuseAdd = residualAdd;
  policy.loneLayers = loneLinears;
  policy.activations = checkedActivations(name(), activations);
  policy.reduceRange = reduceRangeFor(reduceRange.value(), name());
  policy.minWeightElements = minSize;
  return fuseLayerChains(*graph, context, policy, fused, skipped);
}

} // namespace tsopt
