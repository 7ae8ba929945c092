#include "passes/quantization/insert_observers.h"

#include "passes/core/error.h"
#include "passes/core/reduce_range.h"
#include "passes/quantization/module_queries.h"
#include "passes/quantization/observers.h"
#include "passes/quantization/quantization_params.h"

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
    context.missedText() << "the module has no submodules (frozen already?): nothing to observe";
    return false;
  }
  const bool reduce = parseReduceRange(reduceRange.value(), name());
  context.analysis() << "activations observed for " << (reduce ? 7 : 8) << " bits";
  torch::jit::Module activation;
  if (activationObserver.value() == "minmax") {
    activation = makeMinMaxObserver(reduce);
  } else if (activationObserver.value() == "histogram") {
    activation = makeHistogramObserver(reduce);
  } else {
    throw Error(ErrorKind::Usage, name() + ": unknown activation-observer '" + activationObserver.value() +
                                      "' (known: minmax, histogram)");
  }
  torch::jit::QConfigDict qconfigs;
  qconfigs[""] = torch::jit::QConfig(activation, makePerChannelWeightObserver());
  // PyTorch's InsertObservers gives a submodule without an entry its parent's
  // qconfig; an empty one leaves the submodule and its children unobserved.
  for (const std::string& path : keepFloat.value()) {
    if (!hasSubmodule(module, path)) {
      throw Error(ErrorKind::Usage, name() + ": keep-float: the module has no submodule '" + path +
                                        "' (give dotted paths such as layer1.0.conv1)");
    }
    qconfigs[path] = c10::nullopt;
    context.missedText() << "keeping " << path << " in float32";
  }
  size_t before = countObservers(module);
  torch::jit::Module folded = torch::jit::FoldConvBatchNorm(module);
  torch::jit::Module observed = torch::jit::InsertObservers(folded, "forward", qconfigs, /*inplace=*/false);
  size_t inserted = countObservers(observed) - before;
  if (inserted == 0) {
    context.missedText() << "no quantizable op found: the module is unchanged";
    return false;
  }
  module = observed;
  observers += inserted;
  return true;
}

} // namespace tsopt
