#include "passes/core/value_replacement.h"

#include "passes/core/graph_utils.h"

#include <ostream>

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

bool expandEach(torch::jit::Graph& graph, c10::Symbol kind, PassContext& context, const std::string& what,
                const std::function<std::string(torch::jit::Node*)>& whyKept,
                const std::function<torch::jit::Value*(torch::jit::Node*)>& expand, Statistic& done,
                Statistic& kept) {
  bool changed = false;
  for (torch::jit::Node* node : collectNodes(graph, {kind})) {
    const std::string why = whyKept(node);
    if (!why.empty()) {
      context.missed(node) << why;
      ++kept;
      continue;
    }
    if (!context.shouldRewrite("decompose " + describeNode(node) + " into " + what, node)) {
      continue;
    }
    torch::jit::WithInsertPoint guard(node);
    torch::jit::Value* result = expand(node);
    result->setType(node->output(0)->type());
    replaceAndDestroy(node->output(0), result, {node});
    ++done;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
