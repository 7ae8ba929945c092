#include "passes/cleanup/remove_dropout.h"

#include "passes/core/ir_matchers.h"

#include <ostream>
#include <sstream>

namespace tsopt {

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
      context.missed(node) << (known ? "training mode with p > 0" : "train flag or p is not a constant");
      continue;
    }
    std::ostringstream what;
    what << "remove " << node->kind().toQualString() << " producing %" << node->output()->debugName();
    if (!context.shouldRewrite(what.str(), node)) {
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
