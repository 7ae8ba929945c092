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
  return hasModule ? "freeze," + cleanups : cleanups;
}

} // namespace tsopt
