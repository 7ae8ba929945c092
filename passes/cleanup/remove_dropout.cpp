#include "passes/cleanup/remove_dropout.h"

#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <ostream>
#include <sstream>

namespace tsopt {

DropoutBehavior classifyDropout(const torch::jit::Node* node) {
  static const std::vector<c10::Symbol> kinds = {
      c10::Symbol::fromQualString("aten::dropout"),
      c10::Symbol::fromQualString("aten::dropout_"),
      c10::Symbol::fromQualString("aten::feature_dropout"),
      c10::Symbol::fromQualString("aten::feature_dropout_"),
      c10::Symbol::fromQualString("aten::alpha_dropout"),
      c10::Symbol::fromQualString("aten::alpha_dropout_"),
      c10::Symbol::fromQualString("aten::feature_alpha_dropout"),
      c10::Symbol::fromQualString("aten::feature_alpha_dropout_"),
  };
  if (node->inputs().size() != 3 || node->outputs().size() != 1 ||
      std::find(kinds.begin(), kinds.end(), node->kind()) == kinds.end()) {
    return DropoutBehavior::NotDropout;
  }
  auto train = torch::jit::constant_as<bool>(node->input(2));
  auto probability = torch::jit::constant_as<double>(node->input(1));
  if ((train && !*train) || (probability && *probability == 0.0)) {
    return DropoutBehavior::Identity;
  }
  return train && probability ? DropoutBehavior::Drops : DropoutBehavior::UnknownMode;
}

bool RemoveDropoutPass::removeInBlock(torch::jit::Block* block, PassContext& context) {
  bool changed = false;
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    torch::jit::Node* node = *it++;
    for (torch::jit::Block* child : node->blocks()) {
      changed |= removeInBlock(child, context);
    }
    DropoutBehavior behavior = classifyDropout(node);
    if (behavior == DropoutBehavior::NotDropout) {
      continue;
    }
    if (behavior != DropoutBehavior::Identity) {
      bool known = behavior == DropoutBehavior::Drops;
      ++(known ? skippedTraining : skippedUnknownMode);
      context.debug() << "kept " << node->kind().toQualString() << " producing %"
                      << node->output()->debugName()
                      << (known ? ": training mode with p > 0" : ": train flag or p is not a constant")
                      << "\n";
      continue;
    }
    std::ostringstream what;
    what << "remove " << node->kind().toQualString() << " producing %" << node->output()->debugName();
    if (!context.shouldRewrite(what.str())) {
      continue;
    }
    node->output()->replaceAllUsesWith(node->input(0));
    node->destroy();
    ++removed;
    changed = true;
  }
  return changed;
}

bool RemoveDropoutPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  return removeInBlock(graph->block(), context);
}

} // namespace tsopt
