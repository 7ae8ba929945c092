#include "fold_double_negation.h"

#include <torch/csrc/jit/ir/alias_analysis.h>

#include <ostream>

namespace example {
namespace {

bool isTensorNeg(torch::jit::Node* node) {
  static const c10::Symbol neg = c10::Symbol::fromQualString("aten::neg");
  return node->kind() == neg && node->inputs().size() == 1 && node->outputs().size() == 1 &&
         node->input(0)->type()->cast<c10::TensorType>() != nullptr;
}

/// Why making `result` an alias of `source` would be observable, or nullptr if it
/// would not be (AliasDb::safeToChangeAliasingRelationship, with the reason kept).
const char* aliasingHazard(const torch::jit::AliasDb& aliasDb, torch::jit::Value* source,
                           torch::jit::Value* result) {
  if (aliasDb.hasWriters(source) || aliasDb.hasWriters(result)) {
    return "it or its source is written in place";
  }
  if (aliasDb.escapesScope({source}) && aliasDb.escapesScope({result})) {
    return "it and its source both escape the graph";
  }
  return nullptr;
}

} // namespace

FoldDoubleNegationPass::FoldDoubleNegationPass() = default;
FoldDoubleNegationPass::~FoldDoubleNegationPass() = default;

torch::jit::AliasDb& FoldDoubleNegationPass::aliasDb(const std::shared_ptr<torch::jit::Graph>& graph) {
  // Rebuilt after every fold: the fold makes the result alias %x, and the next
  // decision must see that. Folds are rare, so the rebuilds stay cheap.
  if (aliasDb_ == nullptr) {
    aliasDb_ = std::make_unique<torch::jit::AliasDb>(graph);
  }
  return *aliasDb_;
}

bool FoldDoubleNegationPass::foldInBlock(torch::jit::Block* block,
                                         const std::shared_ptr<torch::jit::Graph>& graph,
                                         tsopt::PassContext& context) {
  bool changed = false;
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    torch::jit::Node* outer = *it++;
    for (torch::jit::Block* child : outer->blocks()) {
      changed |= foldInBlock(child, graph, context);
    }
    if (!isTensorNeg(outer) || !isTensorNeg(outer->input(0)->node())) {
      continue;
    }
    torch::jit::Node* inner = outer->input(0)->node();
    torch::jit::Value* source = inner->input(0);
    torch::jit::Value* result = outer->output();
    if (inner->output()->uses().size() != 1) {
      ++skippedSharedInner;
      context.debug() << kName << ": kept %" << result->debugName() << " = -(-%" << source->debugName()
                      << "): the inner neg %" << inner->output()->debugName() << " has other uses\n";
      continue;
    }
    if (const char* hazard = aliasingHazard(aliasDb(graph), source, result)) {
      ++skippedAliasing;
      context.debug() << kName << ": kept %" << result->debugName() << " = -(-%" << source->debugName()
                      << "): " << hazard << "\n";
      continue;
    }
    result->replaceAllUsesWith(source);
    // The inner neg precedes the outer one, so neither is the node `it` points to.
    outer->destroy();
    inner->destroy();
    aliasDb_.reset();
    ++folded;
    changed = true;
  }
  return changed;
}

bool FoldDoubleNegationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph,
                                        tsopt::PassContext& context) {
  aliasDb_.reset();
  bool changed = foldInBlock(graph->block(), graph, context);
  aliasDb_.reset();
  return changed;
}

} // namespace example
