#include "passes/freezing/freeze.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/passes/freeze_module.h>

#include <algorithm>

namespace tsopt {

bool FreezePass::runOnModule(torch::jit::Module& module, PassContext& context) {
  // Module::is_training() is true when the `training` attribute is missing, as it
  // is on a module frozen before; only a module that says it trains is refused.
  if (module.hasattr("training") && module.attr("training").toBool()) {
    throw Error(ErrorKind::PassFailure,
                "freeze: the module is in training mode; call .eval() before saving it");
  }
  auto method = module.find_method(context.methodName());
  size_t attributeReads = method ? countNodesOfKind(*method->graph(), c10::prim::GetAttr) +
                                       countNodesOfKind(*method->graph(), c10::prim::CallMethod)
                                 : 0;
  if (attributeReads == 0) {
    context.debug() << "method '" << context.methodName() << "' reads no attribute; nothing to freeze\n";
    return false;
  }
  std::vector<std::string> preserved = preservedAttrs.value();
  if (context.methodName() != "forward" &&
      std::find(preserved.begin(), preserved.end(), context.methodName()) == preserved.end()) {
    preserved.push_back(context.methodName());
  }
  module = torch::jit::freeze_module(module, preserved, freezeInterfaces.value(), preserveParameters.value());
  auto frozen = module.find_method(context.methodName());
  size_t remaining = frozen ? countNodesOfKind(*frozen->graph(), c10::prim::GetAttr) : 0;
  foldedAttributes += attributeReads > remaining ? attributeReads - remaining : 0;
  return true;
}

} // namespace tsopt
