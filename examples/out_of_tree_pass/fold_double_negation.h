//===- fold_double_negation.h - Fold neg(neg(x)) to x ---------------------===//
///
/// An out-of-tree tsopt pass: built against an installed tsopt, it reaches the
/// driver as a plugin (plugin.cpp) or linked into a driver of its own (my_opt.cpp).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <tsopt/passes/core/pass.h>

#include <memory>

namespace torch::jit {
class AliasDb;
} // namespace torch::jit

namespace example {

/// fold-double-negation: uses of `aten::neg(aten::neg(%x))` on tensors become uses
/// of `%x`. Negating twice gives back the same bits in every dtype, so numerics do
/// not change; a bool tensor, on which neg throws, no longer throws.
/// Never fires when the inner neg has other uses (it stays alive: nothing saved),
/// or when the fold would change what aliases what: `%x` or the result is written
/// in place, or both escape the graph (the caller would get its input back).
/// Leaves scalar negation (`aten::neg(int)`) to constant propagation.
///   %a = aten::neg(%x)  %b = aten::neg(%a)  %c = aten::mul(%b, %b)   ==>   %c = aten::mul(%x, %x)
class FoldDoubleNegationPass final : public tsopt::GraphPass {
public:
  static constexpr const char* kName = "fold-double-negation";
  static constexpr const char* kSummary = "Replace aten::neg(aten::neg(x)) on tensors by x";

  FoldDoubleNegationPass();
  ~FoldDoubleNegationPass() override;

  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, tsopt::PassContext& context) override;

private:
  bool foldInBlock(torch::jit::Block* block, const std::shared_ptr<torch::jit::Graph>& graph,
                   tsopt::PassContext& context);
  torch::jit::AliasDb& aliasDb(const std::shared_ptr<torch::jit::Graph>& graph);

  /// Alias analysis of the graph as it is now; a fold makes it stale.
  std::unique_ptr<torch::jit::AliasDb> aliasDb_;

  tsopt::Statistic folded{this, "folded", "neg(neg(x)) pairs replaced by x"};
  tsopt::Statistic skippedSharedInner{this, "skipped-shared-inner", "Kept: the inner neg has other uses"};
  tsopt::Statistic skippedAliasing{this, "skipped-aliasing", "Kept: the fold would change what aliases what"};
};

} // namespace example
