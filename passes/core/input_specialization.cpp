#include "passes/core/input_specialization.h"

#include "passes/core/error.h"

#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Value;

/// x.1 -> x: the argument's name without the suffix the IR adds to repeats.
std::string argumentName(const Value* value, size_t index) {
  if (!value->hasDebugName()) {
    return "argument " + std::to_string(index);
  }
  std::string name = value->debugName();
  size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot + 1 < name.size() &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
    name.resize(dot);
  }
  return name;
}

} // namespace

std::string InputSpec::describe() const {
  return "a " + std::to_string(rank) + "-D " + std::string(c10::toString(dtype)) + " tensor on " + device.str();
}

std::vector<InputSpec> specializeInputs(Graph& graph, const std::vector<c10::IValue>& example,
                                        const std::string& origin, size_t defaulted) {
  const size_t first = 1;  // self
  const size_t arguments = graph.inputs().size() - first;
  const size_t required = arguments - std::min(defaulted, arguments);
  if (example.size() < required || example.size() > arguments) {
    std::string takes = required == arguments
                            ? std::to_string(arguments)
                            : std::to_string(required) + " to " + std::to_string(arguments) + " (the last " +
                                  std::to_string(arguments - required) + " have defaults)";
    throw Error(ErrorKind::Input, origin + ": the example has " + std::to_string(example.size()) +
                                      " arguments; the method takes " + takes);
  }
  std::vector<InputSpec> specs;
  for (size_t index = first; index < first + example.size(); ++index) {
    Value* input = graph.inputs()[index];
    const c10::IValue& argument = example[index - first];
    if (!input->type()->cast<c10::TensorType>()) {
      continue;  // Numbers, lists, tuples: the example says nothing the types do not.
    }
    if (!argument.isTensor()) {
      throw Error(ErrorKind::Input, origin + ": argument " + std::to_string(index - first + 1) + " ('" +
                                        argumentName(input, index) + "') is a Tensor, the example gives a " +
                                        argument.tagKind());
    }
    const at::Tensor& tensor = argument.toTensor();
    InputSpec spec{index, argumentName(input, index), tensor.dim(), tensor.scalar_type(), tensor.device()};
    input->setType(c10::TensorType::create(spec.dtype, spec.device, static_cast<size_t>(spec.rank),
                                           /*requires_grad=*/false));
    specs.push_back(std::move(spec));
  }
  return specs;
}

void insertInputGuards(Graph& graph, const std::vector<InputSpec>& specs) {
  torch::jit::graph_node_list nodes = graph.block()->nodes();
  torch::jit::WithInsertPoint guard(nodes.begin() == nodes.end() ? graph.return_node() : *nodes.begin());
  for (const InputSpec& spec : specs) {
    Value* input = graph.inputs().at(spec.input);
    Value* rank = graph.insert(c10::aten::dim, {input});
    Value* dtype = graph.insert(c10::prim::dtype, {input});
    Value* device = graph.insert(c10::prim::device, {input});
    Value* ok = graph.insert(c10::aten::eq, {rank, graph.insertConstant(spec.rank)});
    ok = graph.insert(c10::aten::__and__,
                      {ok, graph.insert(c10::aten::eq, {dtype, graph.insertConstant(static_cast<int64_t>(spec.dtype))})});
    ok = graph.insert(c10::aten::__and__, {ok, graph.insert(c10::aten::eq, {device, graph.insertConstant(spec.device)})});
    torch::jit::Node* check = graph.insertNode(graph.create(c10::prim::If, {ok}, 0));
    check->addBlock();
    torch::jit::Block* failure = check->addBlock();
    {
      torch::jit::WithInsertPoint inFailure(failure);
      std::string message = "tsopt: " + spec.name + ": expected " + spec.describe() +
                            " (the module was optimized for --example-inputs of that kind)";
      graph.insertNode(graph.create(c10::prim::RaiseException,
                                    {graph.insertConstant(message), graph.insertConstant(std::string("builtins.RuntimeError"))},
                                    0));
    }
  }
}

} // namespace tsopt
