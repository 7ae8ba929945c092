#include "passes/freezing/fold_layers.h"

#include "passes/core/error.h"
#include "passes/freezing/layer_folding.h"

#include <ostream>
#include <sstream>
#include <string>

namespace tsopt {

bool FoldLayersPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  if (maxRounds.value() < 1) {
    throw Error(ErrorKind::Usage, "fold-layers: max-rounds must be at least 1");
  }
  bool changed = false;
  bool roundChanged = true;
  std::ostringstream lastRoundSkips;
  DebugStream buffered = [&lastRoundSkips]() -> std::ostream& { return lastRoundSkips; };
  for (int64_t round = 0; roundChanged && round < maxRounds.value(); ++round) {
    // Only the skips of the last round matter: earlier ones may fold later.
    lastRoundSkips.str("");
    FoldCounts norms;
    FoldCounts sums;
    roundChanged =
        foldBatchNormsInto(*graph, context, buffered, matchConvolutionOrLinear, foldableIntoLayer, norms);
    roundChanged |= foldArithmeticIntoConvolutions(*graph, context, buffered, sums);
    batchNorms += norms.folded;
    arithmetic += sums.folded;
    ++rounds;
    changed |= roundChanged;
    if (!roundChanged || round + 1 == maxRounds.value()) {
      skipped += norms.skipped + sums.skipped;
    }
  }
  std::istringstream skips(lastRoundSkips.str());
  for (std::string line; std::getline(skips, line);) {
    context.debug() << line << "\n";
  }
  if (roundChanged) {
    context.debug() << "stopped after " << maxRounds.value()
                    << " rounds (max-rounds) with the last round still folding\n";
  }
  return changed;
}

} // namespace tsopt
