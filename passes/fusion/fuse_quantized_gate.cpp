#include "passes/fusion/fuse_quantized_gate.h"

#include "passes/core/graph_utils.h"

namespace tsopt {

bool FuseQuantizedGatePass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  const c10::Symbol quantizedMul = c10::Symbol::fromQualString("quantized::mul");
  const c10::Symbol gate = c10::Symbol::fromQualString("tsopt::quantized_gate");
  bool changed = false;
  for (torch::jit::Node* mul : collectNodes(*graph, {quantizedMul})) {
    if (mul->inputs().size() != 4 || !isTensor(mul->input(0)) || !isTensor(mul->input(1))) {
      continue;  // Another overload (a scalar factor, an out= variant).
    }
    std::string whyNot;
    if (mul->input(0) == mul->input(1)) {
      whyNot = "both operands are one value: a square, not a gate";
    }
    for (torch::jit::Value* operand : mul->inputs().slice(0, 2)) {
      std::optional<size_t> rank = knownRank(operand);
      if (whyNot.empty() && rank && *rank != 4) {
        whyNot = "%" + operand->debugName() + " has rank " + std::to_string(*rank) + ", not 4";
      }
    }
    if (!whyNot.empty()) {
      ++skipped;
      context.missed(mul) << whyNot;
      continue;
    }
    if (!context.shouldRewrite("replace " + describeNode(mul) + " by tsopt::quantized_gate", mul)) {
      continue;
    }
    torch::jit::WithInsertPoint guard(mul);
    torch::jit::Node* call = graph->insertNode(graph->create(gate, mul->inputs(), 1));
    call->copyMetadata(mul);
    call->output()->copyMetadata(mul->output());
    mul->output()->replaceAllUsesWith(call->output());
    mul->destroy();
    ++fused;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
