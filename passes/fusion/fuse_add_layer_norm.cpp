#include "passes/fusion/fuse_add_layer_norm.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"
#include "passes/fusion/layer_chain_fusion.h"

#include <torch/csrc/jit/ir/constants.h>

#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// The add that `layerNorm` normalizes, when the pair can become one call;
/// null with `whyNot` set otherwise (empty when the input is no add at all).
Node* fusibleAdd(Node* layerNorm, std::string& whyNot) {
  Node* add = layerNorm->input(0)->node();
  if (add->kind() == c10::aten::add_) {
    whyNot = describeNode(add) + " is in place (its operand is written, and may be read elsewhere)";
    return nullptr;
  }
  if (add->kind() != c10::aten::add) {
    return nullptr;
  }
  if (!matchResidualAdd(add, add->input(0), whyNot)) {
    return nullptr;
  }
  Node* user = soleUserInBlock(add->output(), whyNot);
  if (user != layerNorm) {
    return nullptr;
  }
  if (layerNorm->inputs().size() != 6) {
    whyNot = describeNode(layerNorm) + " has " + std::to_string(layerNorm->inputs().size()) + " inputs, not 6";
    return nullptr;
  }
  auto shape = torch::jit::toIValue(layerNorm->input(1));
  if (!shape || !shape->isIntList()) {
    whyNot = "the normalized shape is not a constant int list";
    return nullptr;
  }
  return add;
}

} // namespace

bool FuseAddLayerNormPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  static const c10::Symbol kAddLayerNorm = c10::Symbol::fromQualString("tsopt::add_layer_norm");
  bool changed = false;
  for (Node* layerNorm : collectNodes(*graph, {c10::aten::layer_norm})) {
    std::string whyNot;
    Node* add = fusibleAdd(layerNorm, whyNot);
    if (add == nullptr) {
      if (!whyNot.empty()) {
        ++skipped;
        context.missed(layerNorm) << whyNot;
      }
      continue;
    }
    if (!context.shouldRewrite("fuse " + describeNode(add) + ", " + describeNode(layerNorm) +
                                   " into tsopt::add_layer_norm",
                               layerNorm, {add, layerNorm})) {
      continue;
    }
    torch::jit::WithInsertPoint guard(layerNorm);
    Node* call = graph->insertNode(graph->create(
        kAddLayerNorm,
        {add->input(0), add->input(1), layerNorm->input(1), layerNorm->input(2), layerNorm->input(3),
         layerNorm->input(4)},
        1));
    call->copyMetadata(layerNorm);
    call->output()->setType(layerNorm->output()->type());
    replaceAndDestroy(layerNorm->output(), call->output(), {layerNorm, add});
    ++fused;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
