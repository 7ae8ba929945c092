#include "passes/quantization/insert_observers.h"

#include "passes/core/error.h"
#include "passes/quantization/observers.h"
#include "passes/quantization/quantization_patterns.h"

#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/quantization/insert_observers.h>

namespace tsopt {

bool InsertObserversPass::runOnModule(torch::jit::Module& module, PassContext& context) {
  if (context.methodName() != "forward") {
    throw Error(ErrorKind::Usage, name() + ": PyTorch's graph-mode quantization handles method 'forward' only");
  }
  if (module.hasattr("training") && module.attr("training").toBool()) {
    throw Error(ErrorKind::PassFailure, name() + ": the module is in training mode; call .eval() before saving it");
  }
  if (countSubmodules(module) == 0) {
    context.debug() << "the module has no submodules (frozen already?): nothing to observe\n";
    return false;
  }
  size_t before = countObservers(module);
  torch::jit::Module folded = torch::jit::FoldConvBatchNorm(module);
  torch::jit::QConfigDict qconfigs;
  qconfigs[""] = torch::jit::QConfig(makeMinMaxObserver(reduceRange), makePerChannelWeightObserver());
  torch::jit::Module observed = torch::jit::InsertObservers(folded, "forward", qconfigs, /*inplace=*/false);
  size_t inserted = countObservers(observed) - before;
  if (inserted == 0) {
    context.debug() << "no quantizable op found: the module is unchanged\n";
    return false;
  }
  module = observed;
  observers += inserted;
  return true;
}

} // namespace tsopt
