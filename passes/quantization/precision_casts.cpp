#include "passes/quantization/precision_casts.h"

#include <torch/csrc/jit/ir/constants.h>

namespace tsopt {

torch::jit::Value* insertCast(torch::jit::Graph& graph, torch::jit::Value* value, at::ScalarType dtype) {
  torch::jit::Node* cast = graph.insertNode(graph.create(
      c10::Symbol::fromQualString("aten::to"),
      {value, graph.insertConstant(static_cast<int64_t>(dtype)), graph.insertConstant(false),
       graph.insertConstant(false), graph.insertConstant(c10::IValue())},
      1));
  cast->output()->setType(c10::TensorType::get());
  return cast->output();
}

torch::jit::Value* insertCastIfFloatingPoint(torch::jit::Graph& graph, torch::jit::Value* value,
                                             at::ScalarType dtype) {
  torch::jit::Value* floating = graph.insert(c10::Symbol::fromQualString("aten::is_floating_point"), {value});
  torch::jit::Node* branch = graph.insertNode(graph.create(c10::prim::If, {floating}, 1));
  branch->output()->setType(c10::TensorType::get());
  torch::jit::Block* cast = branch->addBlock();
  {
    torch::jit::WithInsertPoint inCast(cast);
    cast->registerOutput(insertCast(graph, value, dtype));
  }
  branch->addBlock()->registerOutput(value);
  return branch->output();
}

} // namespace tsopt
