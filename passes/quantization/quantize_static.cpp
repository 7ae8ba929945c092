#include "passes/quantization/quantize_static.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/quantization/observers.h"
#include "passes/quantization/quantization_params.h"
#include "passes/quantization/module_queries.h"

#include <torch/csrc/jit/passes/quantization/finalize.h>
#include <torch/csrc/jit/passes/quantization/insert_quant_dequant.h>

namespace tsopt {

bool QuantizeStaticPass::runOnModule(torch::jit::Module& module, PassContext& context) {
  const c10::QEngine packFor = parseQEngine(engine, name());
  if (context.methodName() != "forward") {
    throw Error(ErrorKind::Usage, name() + ": PyTorch's graph-mode quantization handles method 'forward' only");
  }
  std::vector<std::pair<std::string, torch::jit::Module>> observers = findObservers(module);
  if (observers.empty()) {
    context.debug() << "the module has no observers (run insert-observers and calibrate first)\n";
    return false;
  }
  for (const auto& [path, observer] : observers) {
    if (!observerHasData(observer)) {
      throw Error(ErrorKind::PassFailure, name() + ": observer " + path +
                                              " has seen no data: run calibrate (tsopt --calibration-data=FILE) "
                                              "after insert-observers");
    }
  }
  QEngineScope engineScope(packFor);
  torch::jit::Module quantized = torch::jit::InsertQuantDeQuant(module, "forward", /*inplace=*/false, /*debug=*/false);
  module = torch::jit::Finalize(quantized);
  torch::jit::Graph& graph = *module.get_method("forward").graph();
  quantizedOps += countQuantizedOps(*graph.block());
  boundaries += countNodesOfKind(graph, c10::Symbol::fromQualString("aten::quantize_per_tensor")) +
                countNodesOfKind(graph, c10::Symbol::fromQualString("aten::dequantize"));
  return true;
}

} // namespace tsopt
