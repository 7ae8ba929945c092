#include "passes/freezing/fold_layers.h"

#include "passes/core/error.h"
#include "passes/freezing/layer_folding.h"

#include <string>
#include <utility>
#include <vector>

namespace tsopt {

bool FoldLayersPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  if (maxRounds.value() < 1) {
    throw Error(ErrorKind::Usage, "fold-layers: max-rounds must be at least 1");
  }
  bool changed = false;
  bool roundChanged = true;
  std::vector<std::pair<torch::jit::Node*, std::string>> lastRoundSkips;
  SkipReporter buffered = [&lastRoundSkips](torch::jit::Node* node, const std::string& whyNot) {
    lastRoundSkips.emplace_back(node, whyNot);
  };
  for (int64_t round = 0; roundChanged && round < maxRounds.value(); ++round) {
    // Only the skips of the last round matter: earlier ones may fold later.
    lastRoundSkips.clear();
    FoldCounts norms;
    FoldCounts sums;
    roundChanged =
        foldBatchNormsInto(*graph, context, buffered, matchConvolutionOrLinear, foldableIntoLayer, norms, true);
    roundChanged |= foldArithmeticIntoLayers(*graph, context, buffered, sums);
    batchNorms += norms.folded;
    batchNormsIntoNext += norms.intoConsumers;
    arithmetic += sums.folded;
    ++rounds;
    changed |= roundChanged;
    if (!roundChanged || round + 1 == maxRounds.value()) {
      skipped += norms.skipped + sums.skipped;
    }
  }
  // A node skipped in the last round is still in the graph: folds destroy only what they fold.
  for (const auto& [node, whyNot] : lastRoundSkips) {
    context.missed(node) << whyNot;
  }
  if (roundChanged) {
    context.debug() << "stopped after " << maxRounds.value()
                    << " rounds (max-rounds) with the last round still folding\n";
  }
  return changed;
}

} // namespace tsopt
