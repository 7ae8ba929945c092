#include "passes/quantization/module_queries.h"

namespace tsopt {

size_t countSubmodules(const torch::jit::Module& module) {
  size_t count = 0;
  for (const auto& child : module.named_modules()) {
    count += child.name.empty() ? 0 : 1;
  }
  return count;
}

bool hasSubmodule(const torch::jit::Module& module, const std::string& path) {
  for (const auto& child : module.named_modules()) {
    if (!child.name.empty() && child.name == path) {
      return true;
    }
  }
  return false;
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
