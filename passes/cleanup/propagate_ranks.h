//===- propagate_ranks.h - Ranks from ranked graph inputs -----------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// propagate-ranks: when graph inputs record a rank (tsopt's --example-inputs
/// sets rank, dtype and device; IR text may spell them), gives the values
/// computed from them their rank, so that rank-dependent folds can fire:
/// fold-linear-bn (a linear output proven 2-D) and fold-conv-add-mul (a
/// [1, C, 1, 1] constant on a batched convolution). Rules cover the ops of
/// inference graphs: element-wise and shape-keeping ops (activations, norms,
/// convolutions, pooling, dropout), broadcasting arithmetic (the larger rank),
/// linear and matmul, flatten, reductions over constant dims, view/reshape to a
/// list of known length, permute/transpose, unsqueeze, cat. It records ranks
/// only, never dtypes or devices (promotion rules a table would get wrong,
/// and remove-no-ops trusts recorded dtypes).
/// Never: a value whose type already records a rank (traced types stay), or an
/// op without a rule (its output stays `Tensor`; squeeze, whose rank depends on
/// sizes, is one). It changes types only, never nodes. Why not PyTorch's
/// PropagateInputShapes: with ranks but no sizes it types a convolution and
/// stops at the batch norm after it.
///   graph(%x : Float(*, *)):  %y : Tensor = aten::linear(%x, %w, %b)
///   ==>   %y : Tensor(*, *) = aten::linear(%x, %w, %b)
class PropagateRanksPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic ranked{this, "ranked", "Values given a rank"};
};

} // namespace tsopt
