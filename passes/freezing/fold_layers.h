//===- fold_layers.h - Layer folds to a fixpoint --------------------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-layers: runs fold-conv-bn, fold-linear-bn and fold-layer-arith in
/// turn, round after round, until a round folds nothing, as PyTorch's
/// freezing loops its conv folds; at most max-rounds rounds. One fold exposes
/// the next: in conv -> mul -> add -> batch_norm, the arithmetic folds first
/// and the batch norm then sits on the convolution. A batch norm with no layer
/// before it folds into the layer after it where that is exact (conv(bn(x))
/// with no padding, or a zero shift; linear(bn(x)) on a 2-D input), never
/// into a transposed convolution (its border outputs read fewer inputs).
/// Needs: a frozen graph. Folds exactly what the three passes fold and refuses
/// what they refuse; --debug-only reports the skips of the last round (what is
/// left), and says when the bound stopped it with folds still happening.
///   %y = aten::conv2d(%x, %w, %b, ...)  %m = aten::mul(%y, %c)  %z = aten::batch_norm(%m, ...)
///   ==>   %z = aten::conv2d(%x, %w', %b', ...)
class FoldLayersPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<int64_t> maxRounds{this, "max-rounds", "Rounds at most (each runs the three folds once)", 4};
  Statistic batchNorms{this, "batch-norms", "Batch norms folded into convolutions and linear layers"};
  Statistic batchNormsIntoNext{this, "batch-norms-into-next",
                                "Of those, batch norms folded into the unpadded convolution or 2-D linear after them"};
  Statistic arithmetic{this, "arithmetic", "Arithmetic nodes folded into convolutions and linear layers"};
  Statistic rounds{this, "rounds", "Rounds run (the last one folds nothing unless max-rounds stopped it)"};
  Statistic skipped{this, "skipped", "Batch norms and arithmetic left in place after the last round"};
};

} // namespace tsopt
