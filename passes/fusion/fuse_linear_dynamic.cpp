#include "passes/fusion/fuse_linear_dynamic.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/ir_matchers.h"
#include "passes/core/reduce_range.h"
#include "passes/fusion/layer_chain_fusion.h"
#include "runtime/linear_dynamic.h"

namespace tsopt {
namespace {

/// A dropout that drops (training mode) or may: an int8 layer has no backward.
torch::jit::Node* trainingDropout(torch::jit::Graph& graph) {
  for (torch::jit::Node* node : graph.nodes()) {
    DropoutBehavior behavior = classifyDropout(node);
    if (behavior == DropoutBehavior::Drops || behavior == DropoutBehavior::UnknownMode) {
      return node;
    }
  }
  return nullptr;
}

} // namespace

bool FuseLinearDynamicPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  if (torch::jit::Node* dropout = trainingDropout(*graph)) {
    context.missedText(dropout) << "graph left alone: " << describeNode(dropout)
                                << " is in training mode (quantize an eval-mode module)";
    return false;
  }
  ChainPolicy policy;
  policy.layer = FusedLayerKind::LinearDynamicInt8;
  policy.fuseAdd = residualAdd;
  policy.loneLayers = loneLinears;
  policy.activations = checkedActivations(name(), activations);
  policy.reduceRange = parseReduceRange(reduceRange.value(), name());
  policy.minWeightElements = minSize;
  return fuseLayerChains(*graph, context, policy, fused, skipped);
}

} // namespace tsopt
