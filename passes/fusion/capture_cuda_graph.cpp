#include "passes/fusion/capture_cuda_graph.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "runtime/cuda_graph_cache.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <unordered_map>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kCudaGraphRun = c10::Symbol::fromQualString("tsopt::cuda_graph_run");

/// Why a node cannot be in a captured graph: a capture records GPU work only,
/// so what the host reads or does at run time would happen once, at the
/// capture, and what synchronizes with the host fails the capture.
struct Uncapturable {
  const char* reason;
  bool onlyOnTensors;  ///< Only when its first argument is a tensor (aten::Int(str) is fine).
};

const std::unordered_map<c10::Symbol, Uncapturable>& uncapturableOps() {
  static const auto* ops = [] {
    const Uncapturable scalarRead{"reads a tensor's value on the host", true};
    const Uncapturable dataDependentSize{"has an output size that depends on the values (a host synchronization)",
                                         false};
    auto* table = new std::unordered_map<c10::Symbol, Uncapturable>();
    for (const char* kind : {"aten::item", "aten::_local_scalar_dense", "aten::Bool", "aten::Int", "aten::Float",
                             "aten::IntImplicit", "aten::FloatImplicit", "aten::ScalarImplicit", "aten::is_nonzero",
                             "aten::equal", "aten::allclose"}) {
      table->emplace(c10::Symbol::fromQualString(kind), scalarRead);
    }
    for (const char* kind : {"aten::nonzero", "aten::masked_select", "aten::unique", "aten::_unique", "aten::_unique2",
                             "aten::unique_dim", "aten::unique_consecutive", "aten::unique_dim_consecutive"}) {
      table->emplace(c10::Symbol::fromQualString(kind), dataDependentSize);
    }
    table->emplace(c10::Symbol::fromQualString("aten::tolist"), Uncapturable{"copies a tensor to a host list", false});
    table->emplace(c10::Symbol::fromQualString("prim::tolist"), Uncapturable{"copies a tensor to a host list", false});
    table->emplace(c10::Symbol::fromQualString("aten::cpu"), Uncapturable{"copies a tensor to the host", false});
    table->emplace(c10::Symbol::fromQualString("prim::Print"),
                   Uncapturable{"prints on the host: once at the capture, never at a replay", false});
    table->emplace(c10::Symbol::fromQualString("prim::fork"),
                   Uncapturable{"runs on another thread, outside the capture", false});
    table->emplace(c10::Symbol::fromQualString("aten::wait"), Uncapturable{"waits on the host for a fork", false});
    table->emplace(c10::prim::SetAttr,
                   Uncapturable{"changes the module on the host: once at the capture, never at a replay", false});
    return table;
  }();
  return *ops;
}

/// Whether an aten::to copies to the CPU: one of its arguments is the constant device "cpu".
bool copiesToCpu(const Node* node) {
  if (node->kind() != c10::aten::to) {
    return false;
  }
  for (const Value* input : node->inputs()) {
    auto value = torch::jit::toIValue(input);
    if (value && value->isDevice() && value->toDevice().is_cpu()) {
      return true;
    }
  }
  return false;
}

/// Why `node` cannot be captured; empty when it can.
std::string uncapturableReason(const Node* node) {
  if (copiesToCpu(node)) {
    return "copies a tensor to the host";
  }
  auto found = uncapturableOps().find(node->kind());
  if (found == uncapturableOps().end() ||
      (found->second.onlyOnTensors && (node->inputs().empty() || !isTensor(node->input(0))))) {
    return "";
  }
  return found->second.reason;
}

bool isTensorOrTupleOfTensors(const c10::TypePtr& type) {
  if (type->cast<c10::TensorType>()) {
    return true;
  }
  auto tuple = type->cast<c10::TupleType>();
  return tuple && std::all_of(tuple->elements().begin(), tuple->elements().end(),
                              [](const c10::TypePtr& element) { return element->cast<c10::TensorType>() != nullptr; });
}

std::string argumentName(const Value* value) {
  std::string quoted(1, '\'');
  quoted.append(value->debugNameBase()).push_back('\'');
  return quoted;
}

/// Why the method cannot be captured; empty when it can. `graph` is the
/// method's graph; what it calls is inlined into a copy before the checks.
std::string refusalReason(const torch::jit::Module& module, const std::string& uncapturedName, Graph& graph) {
  if (!collectNodes(graph, {kCudaGraphRun}).empty()) {
    return "it is captured already";
  }
  if (module.type()->findMethod(uncapturedName) != nullptr || module.type()->hasAttribute(uncapturedName)) {
    return "the module has a member '" + uncapturedName + "' already";
  }
  if (graph.inputs().size() < 2) {
    return "it takes no tensor (the op finds the device from its inputs)";
  }
  for (size_t index = 1; index < graph.inputs().size(); ++index) {
    const Value* input = graph.inputs()[index];
    if (!input->type()->cast<c10::TensorType>()) {
      return "argument " + argumentName(input) + " has type " + input->type()->repr_str() + ", not Tensor";
    }
  }
  if (graph.outputs().size() != 1 || !isTensorOrTupleOfTensors(graph.outputs()[0]->type())) {
    return "it returns " + (graph.outputs().size() == 1 ? graph.outputs()[0]->type()->repr_str()
                                                          : std::to_string(graph.outputs().size()) + " values") +
           ", not a Tensor or a tuple of Tensors";
  }

  std::shared_ptr<Graph> inlined = graph.copy();
  torch::jit::Inline(*inlined);
  for (Node* node : collectNodes(*inlined)) {
    if (node->kind() == c10::prim::CallMethod || node->kind() == c10::prim::CallFunction) {
      return "it calls " + describeNode(node) + ", which the pass cannot see into";
    }
    std::string reason = uncapturableReason(node);
    if (!reason.empty()) {
      return describeNode(node) + " " + reason;
    }
  }
  torch::jit::AliasDb aliasDb(inlined);
  for (size_t index = 1; index < inlined->inputs().size(); ++index) {
    Value* input = inlined->inputs()[index];
    for (Node* node : collectNodes(*inlined)) {
      if (aliasDb.writesToAlias(node, {input})) {
        return describeNode(node) + " writes argument " + argumentName(input) +
               " in place (a captured call writes a copy, not the caller's tensor)";
      }
    }
    if (aliasDb.mayContainAlias(inlined->outputs()[0], input)) {
      return "its result may alias argument " + argumentName(input) + " (a captured call returns copies)";
    }
  }
  return "";
}

/// The method's new graph: its arguments as a list, one tsopt::cuda_graph_run
/// of `uncapturedName`, the results unpacked (into a tuple, if it was one).
std::shared_ptr<Graph> captureCall(const Graph& original, const std::string& uncapturedName, int64_t maxGraphs) {
  auto graph = std::make_shared<Graph>();
  std::vector<Value*> tensors;
  for (const Value* input : original.inputs()) {
    Value* copy = graph->addInput()->copyMetadata(const_cast<Value*>(input));
    if (input != original.inputs()[0]) {
      tensors.push_back(copy);
    }
  }
  Value* cache = graph->insertConstant(c10::IValue(c10::make_intrusive<runtime::CudaGraphCache>(maxGraphs)));
  Value* inputs = graph->insertNode(graph->createList(c10::TensorType::get(), tensors))->output();
  Value* outputs =
      graph->insert(kCudaGraphRun, {cache, graph->inputs()[0], graph->insertConstant(uncapturedName), inputs});
  const c10::TypePtr& resultType = original.outputs()[0]->type();
  auto tuple = resultType->cast<c10::TupleType>();
  Node* unpack = graph->insertNode(graph->createListUnpack(outputs, tuple ? tuple->elements().size() : 1));
  for (size_t index = 0; index < unpack->outputs().size(); ++index) {
    unpack->output(index)->setType(tuple ? tuple->elements()[index] : resultType);
  }
  Value* result = unpack->output(0);
  if (tuple) {
    result = graph->insertNode(graph->createTuple(unpack->outputs(), tuple->schema() ? tuple : nullptr))->output();
    result->setType(resultType);
  }
  graph->registerOutput(result);
  return graph;
}

} // namespace

bool CaptureCudaGraphPass::runOnModule(torch::jit::Module& module, PassContext& context) {
  if (maxGraphs.value() < 0) {
    throw Error(ErrorKind::Usage, "capture-cuda-graph: max-graphs must be 0 or more, got " +
                                      std::to_string(maxGraphs.value()));
  }
  const std::string& name = context.methodName();
  const std::string uncapturedName = name + "_uncaptured";
  torch::jit::Method method = module.get_method(name);
  std::shared_ptr<Graph> graph = torch::jit::toGraphFunction(method.function()).graph();
  std::string reason = refusalReason(module, uncapturedName, *graph);
  if (!reason.empty()) {
    context.missedText() << "method '" << name << "' left uncaptured: " << reason;
    ++refused;
    return false;
  }
  if (!context.shouldRewrite("capture method '" + name + "' into a CUDA graph")) {
    return false;
  }
  std::shared_ptr<c10::ClassType> type = module.type();
  torch::jit::Function* uncaptured = module._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*type->name(), uncapturedName), graph->copy());
  type->addMethod(uncaptured);
  std::shared_ptr<Graph> wrapper = captureCall(*graph, uncapturedName, maxGraphs.value());
  replaceGraphContents(*graph, *wrapper);
  context.debug() << "method '" << name << "' replays a captured CUDA graph of '" << uncapturedName << "'\n";
  ++captured;
  return true;
}

} // namespace tsopt
