#include "passes/quantization/quantization_patterns.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/ir/constants.h>

#include <utility>
#include <vector>

namespace tsopt {

torch::jit::Node* findTrainingLeftover(torch::jit::Graph& graph) {
  // (kind, index of the training flag)
  static const std::vector<std::pair<const char*, size_t>> trainingFlags = {
      {"aten::dropout", 2},       {"aten::dropout_", 2},       {"aten::feature_dropout", 2},
      {"aten::alpha_dropout", 2}, {"aten::feature_alpha_dropout", 2}, {"aten::batch_norm", 5},
  };
  std::vector<torch::jit::NodeKind> kinds;
  for (const auto& entry : trainingFlags) {
    kinds.push_back(c10::Symbol::fromQualString(entry.first));
  }
  for (torch::jit::Node* node : collectNodes(graph, kinds)) {
    for (const auto& [kind, index] : trainingFlags) {
      if (node->kind() != c10::Symbol::fromQualString(kind) || node->inputs().size() <= index) {
        continue;
      }
      auto training = torch::jit::constant_as<bool>(node->input(index));
      if (!training || *training) {
        return node;
      }
    }
  }
  return nullptr;
}

void destroyIfDeadConstant(torch::jit::Value* value) {
  if (value->node()->kind() == c10::prim::Constant && value->uses().empty()) {
    value->node()->destroy();
  }
}

} // namespace tsopt
