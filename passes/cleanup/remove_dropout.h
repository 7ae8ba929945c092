//===- remove_dropout.h - Delete dropout that is the identity ------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// remove-dropout: deletes aten::dropout, feature_dropout, alpha_dropout,
/// feature_alpha_dropout and their in-place forms when they are the identity:
/// the `train` flag is the constant False, or the probability is the constant 0.
/// ATen returns the input itself in both cases, so uses of the result become
/// uses of the input with the same aliasing.
/// Never fires when `train` is not a constant (e.g. `self.training` before freeze)
/// or is True with p > 0.
///   %y = aten::dropout(%x, %p, %false)   ==>   uses of %y use %x
class RemoveDropoutPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  bool removeInBlock(torch::jit::Block* block, PassContext& context);

  Statistic removed{this, "removed", "Dropout nodes removed"};
  Statistic skippedTraining{this, "skipped-training", "Dropout kept: training mode with p > 0"};
  Statistic skippedUnknownMode{this, "skipped-unknown-mode", "Dropout kept: train flag or p not a constant"};
};

} // namespace tsopt
