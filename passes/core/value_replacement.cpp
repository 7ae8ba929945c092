#include "passes/core/value_replacement.h"

#include <string>

namespace tsopt {

void replaceAndDestroy(torch::jit::Value* replaced, torch::jit::Value* replacement,
                       const std::vector<torch::jit::Node*>& dead) {
  // Read before the destruction below frees the name.
  std::string name;
  if (replaced->hasDebugName()) {
    name = replaced->debugName();
  }
  replaced->replaceAllUsesWith(replacement);
  for (torch::jit::Node* node : dead) {
    if (node != nullptr) {
      node->destroy();
    }
  }
  if (!name.empty()) {
    replacement->setDebugName(name);
  }
}

} // namespace tsopt
