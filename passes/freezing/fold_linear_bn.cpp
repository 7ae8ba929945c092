#include "passes/freezing/fold_linear_bn.h"

#include "passes/core/graph_utils.h"
#include "passes/freezing/layer_folding.h"

#include <torch/csrc/jit/ir/constants.h>


namespace tsopt {
namespace {

// flatten(x, 1, -1) of any input is 2-D.
bool isFlattenToMatrix(const torch::jit::Node* node) {
  if (node->kind() != c10::aten::flatten || node->inputs().size() != 3) {
    return false;
  }
  auto start = torch::jit::constant_as<int64_t>(node->input(1));
  auto end = torch::jit::constant_as<int64_t>(node->input(2));
  return start && end && *start == 1 && *end == -1;
}

bool outputIsMatrix(const torch::jit::Node* linear) {
  if (knownRank(linear->output()) == 2) {
    return true;
  }
  const torch::jit::Value* input = linear->input(0);
  return knownRank(input) == 2 || isFlattenToMatrix(input->node());
}

} // namespace

bool FoldLinearBatchNormPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  auto outputIs2D = [](const LayerMatch& layer, std::string& whyNot) {
    if (outputIsMatrix(layer.node)) {
      return true;
    }
    whyNot = "cannot prove the linear output is 2-D (batch norm normalizes dim 1)";
    return false;
  };
  return foldBatchNormsInto(*graph, context, matchLinear, outputIs2D, folded, skipped);
}

} // namespace tsopt
