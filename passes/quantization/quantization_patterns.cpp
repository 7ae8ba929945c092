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

size_t countSubmodules(const torch::jit::Module& module) {
  size_t count = 0;
  for (const auto& child : module.named_modules()) {
    count += child.name.empty() ? 0 : 1;
  }
  return count;
}

std::vector<std::pair<std::string, torch::jit::Module>> findObservers(const torch::jit::Module& module) {
  std::vector<std::pair<std::string, torch::jit::Module>> observers;
  for (const auto& child : module.named_modules()) {
    size_t dot = child.name.rfind('.');
    std::string leaf = dot == std::string::npos ? child.name : child.name.substr(dot + 1);
    if (leaf.rfind("_observer_", 0) == 0) {
      observers.emplace_back(child.name, child.value);
    }
  }
  return observers;
}

size_t countObservers(const torch::jit::Module& module) { return findObservers(module).size(); }

size_t countQuantizedOps(const torch::jit::Block& block) {
  size_t count = 0;
  for (const torch::jit::Node* node : block.nodes()) {
    count += std::string(node->kind().toQualString()).rfind("quantized::", 0) == 0 ? 1 : 0;
    for (const torch::jit::Block* child : node->blocks()) {
      count += countQuantizedOps(*child);
    }
  }
  return count;
}

} // namespace tsopt
