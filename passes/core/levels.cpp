#include "passes/core/levels.h"

#include "passes/core/error.h"

namespace tsopt {

std::string pipelineForLevel(int level, bool hasModule) {
  if (level < 0 || level > kMaxOptimizationLevel) {
    throw Error(ErrorKind::Usage, "unknown optimization level -O" + std::to_string(level) + " (use -O0 to -O" +
                                      std::to_string(kMaxOptimizationLevel) + ")");
  }
  if (level == 0) {
    return "";
  }
  // -O1: freeze (modules only), then the graph cleanups in an order where each
  // exposes work for the next. -O2 and -O3 add fusion and layout passes as they land.
  std::string cleanups = "inline,remove-dropout,peephole,constant-propagation,constant-pooling,cse,dce";
  std::string pipeline = hasModule ? "freeze," + cleanups : cleanups;
  if (level >= 2) {
    // Fusion: fold batch norms and constant arithmetic into the layers, then
    // fuse layer chains into prepacked oneDNN calls. Residual chains go before
    // conv + activation (which would take their convolution alone), and the
    // q/k/v merge before the linears left over become prepacked calls.
    pipeline += ",fold-conv-bn,fold-conv-add-mul,fold-linear-bn,fuse-conv-add-act,fuse-conv-act{lone-convs=true},"
                "fuse-linear-act,fuse-concat-linear,fuse-linear-act{lone-linears=true},propagate-layout,dce";
  }
  return pipeline;
}

} // namespace tsopt
