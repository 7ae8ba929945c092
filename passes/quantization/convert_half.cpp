#include "passes/quantization/convert_half.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"
#include "passes/core/node_hashing.h"
#include "passes/quantization/precision_casts.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/csrc/jit/ir/constants.h>

#include <limits>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

at::ScalarType parseHalfDtype(const std::string& value, const std::string& owner) {
  if (value == "fp16") {
    return at::kHalf;
  }
  if (value == "bf16") {
    return at::kBFloat16;
  }
  throw Error(ErrorKind::Usage, owner + ": dtype='" + value + "': expected fp16 or bf16");
}

bool isWideFloat(at::ScalarType type) { return type == at::kFloat || type == at::kDouble; }

/// A constant whose float32 weights are sealed into an object (tsopt's packed
/// layers, quantized packed parameters): converting around it would feed half
/// tensors to float32 kernels.
Node* findPrepackedConstant(torch::jit::Graph& graph) {
  for (Node* node : collectNodes(graph, {c10::prim::Constant})) {
    auto classType = node->output()->type()->cast<c10::ClassType>();
    if (classType && !classType->is_module()) {
      return node;
    }
  }
  return nullptr;
}

/// Why a use of a floating-point constant needs its exact float32/float64
/// values, or "" when the use is ordinary tensor arithmetic.
std::string useNeedingWideFloat(const torch::jit::Use& use) {
  static const std::set<std::string> kReadsNumbers = {
      "aten::item", "aten::Float", "aten::Int", "aten::Bool", "aten::ScalarImplicit", "aten::FloatImplicit",
      "aten::IntImplicit", "aten::tolist", "prim::tolist"};
  static const std::set<std::string> kExactBoundaries = {"aten::searchsorted", "aten::bucketize", "aten::histc"};
  const Node* user = use.user;
  if (user->kind() == c10::prim::Return) {
    return "the graph returns it";
  }
  const std::string kind = user->kind().toQualString();
  if (kReadsNumbers.count(kind) > 0) {
    return kind + " reads it as a number";
  }
  if (kExactBoundaries.count(kind) > 0) {
    return kind + " compares against its exact values";
  }
  const std::string ns = user->kind().ns().toUnqualString();
  if (ns == "quantized" || ns == "_quantized" || kind.find("quantize") != std::string::npos ||
      kind.rfind("aten::fbgemm_", 0) == 0) {
    return kind + " takes it as quantization parameters";
  }
  return "";
}

/// Factory ops whose dtype None means the default dtype, float32.
bool defaultsToFloat(c10::Symbol kind) {
  static const std::set<std::string> kFloatFactories = {"aten::zeros", "aten::ones",   "aten::empty",
                                                        "aten::rand",  "aten::randn",  "aten::eye",
                                                        "aten::linspace", "aten::empty_strided"};
  return kFloatFactories.count(kind.toQualString()) > 0;
}

/// The index of the input of `node` bound to its schema's `dtype` argument.
std::optional<size_t> dtypeInputIndex(const Node* node) {
  const c10::FunctionSchema* schema = node->maybeSchema();
  if (schema == nullptr) {
    return std::nullopt;
  }
  const std::vector<c10::Argument>& arguments = schema->arguments();
  for (size_t index = 0; index < arguments.size() && index < node->inputs().size(); ++index) {
    if (arguments[index].name() == "dtype") {
      return index;
    }
  }
  return std::nullopt;
}

/// `tensor` in `half`, finite values beyond its range saturated to its largest
/// finite value: a traced mask constant torch.finfo(float32).min would become
/// -inf, and the mask's 0 * -inf a NaN.
at::Tensor saturatingCast(const at::Tensor& tensor, at::ScalarType half) {
  const double limit = half == at::kHalf ? static_cast<float>(std::numeric_limits<c10::Half>::max())
                                         : static_cast<float>(std::numeric_limits<c10::BFloat16>::max());
  return at::where(tensor.isinf(), tensor, tensor.clamp(-limit, limit)).to(half);
}

/// Forgets the float32/float64 dtypes node outputs record (traced types):
/// they may be half now, and a pass trusting them would drop a cast as a no-op.
void forgetFloatDtypes(torch::jit::Graph& graph) {
  for (Node* node : collectNodes(graph)) {
    if (node->kind() == c10::prim::Constant) {
      continue;
    }
    for (Value* output : node->outputs()) {
      auto type = output->type()->cast<c10::TensorType>();
      if (type && type->scalarType() && isWideFloat(*type->scalarType())) {
        output->setType(type->withScalarType(c10::nullopt));
      }
    }
  }
}

} // namespace

bool ConvertHalfPass::convertConstants(torch::jit::Graph& graph, at::ScalarType half, PassContext& context) {
  bool changed = false;
  for (Node* node : collectNodes(graph, {c10::prim::Constant})) {
    std::optional<at::Tensor> tensor = constantTensor(node->output());
    if (!tensor || !isWideFloat(tensor->scalar_type()) || !isPlainTensor(*tensor)) {
      continue;
    }
    std::string whyNot;
    for (const torch::jit::Use& use : node->output()->uses()) {
      if (!(whyNot = useNeedingWideFloat(use)).empty()) {
        break;
      }
    }
    if (!whyNot.empty()) {
      ++keptConstants;
      context.missedText(node).arg("reason", whyNot)
          << "kept " << describeNode(node) << " " << c10::toString(tensor->scalar_type()) << ": " << whyNot;
      continue;
    }
    torch::jit::WithInsertPoint guard(node);
    Value* converted = graph.insertConstant(saturatingCast(*tensor, half));
    replaceAndDestroy(node->output(), converted, {node});
    ++constants;
    changed = true;
  }
  return changed;
}

bool ConvertHalfPass::convertDtypeArguments(torch::jit::Graph& graph, at::ScalarType half, PassContext& context) {
  Value* halfCode = nullptr;  // One constant at the top dominates every use.
  for (Node* node : collectNodes(graph)) {
    std::optional<size_t> index = dtypeInputIndex(node);
    if (!index) {
      continue;
    }
    auto constant = torch::jit::toIValue(node->input(*index));
    if (!constant) {
      context.missed(node) << "its dtype is not a constant";
      continue;
    }
    const bool explicitWide = constant->isInt() && isWideFloat(static_cast<at::ScalarType>(constant->toInt()));
    if (!explicitWide && !(constant->isNone() && defaultsToFloat(node->kind()))) {
      continue;
    }
    if (halfCode == nullptr) {
      torch::jit::WithInsertPoint guard(graph.block()->param_node()->next());
      halfCode = graph.insertConstant(static_cast<int64_t>(half));
    }
    // By index: a pooled None may also be the node's layout or device.
    node->replaceInput(*index, halfCode);
    ++dtypeArguments;
  }
  return halfCode != nullptr;
}

bool ConvertHalfPass::castInputs(torch::jit::Graph& graph, at::ScalarType half, PassContext& context) {
  bool changed = false;
  torch::jit::WithInsertPoint guard(graph.block()->param_node()->next());
  for (Value* input : graph.inputs()) {
    auto type = input->type()->cast<c10::TensorType>();
    if (!type || input->uses().empty()) {
      continue;
    }
    auto known = type->scalarType();
    if (known && !isWideFloat(*known)) {
      context.analysis() << "input %" << input->debugName() << " stays " << c10::toString(*known);
      continue;
    }
    const std::vector<torch::jit::Use> uses = input->uses();
    Value* cast = known ? insertCast(graph, input, half) : insertCastIfFloatingPoint(graph, input, half);
    cast->setType(known ? type->withScalarType(half) : type);
    for (const torch::jit::Use& use : uses) {
      use.user->replaceInput(use.offset, cast);
    }
    ++inputCasts;
    changed = true;
  }
  return changed;
}

/// The cast of a tensor output back to its float32 (or recorded float64)
/// dtype, inserted before `before`; null for outputs that are not
/// floating-point tensors or that the pass did not convert.
Value* ConvertHalfPass::castBack(torch::jit::Graph& graph, Value* output, Node* before) {
  auto type = output->type()->cast<c10::TensorType>();
  auto known = type ? type->scalarType() : c10::nullopt;
  // A returned constant or input was never converted.
  const bool unconverted = output->node()->kind() == c10::prim::Constant || output->node()->kind() == c10::prim::Param;
  if (!type || (known && !isWideFloat(*known)) || unconverted) {
    return nullptr;
  }
  torch::jit::WithInsertPoint guard(before);
  ++outputCasts;
  return known ? insertCast(graph, output, *known) : insertCastIfFloatingPoint(graph, output, at::kFloat);
}

bool ConvertHalfPass::castOutputs(torch::jit::Graph& graph, PassContext& context) {
  bool changed = false;
  for (size_t index = 0; index < graph.outputs().size(); ++index) {
    Value* output = graph.outputs()[index];
    Node* producer = output->node();
    const bool container =
        producer->kind() == c10::prim::TupleConstruct || producer->kind() == c10::prim::ListConstruct;
    if (container && output->uses().size() == 1) {
      for (size_t element = 0; element < producer->inputs().size(); ++element) {
        if (Value* cast = castBack(graph, producer->input(element), producer)) {
          producer->replaceInput(element, cast);
          changed = true;
        }
      }
      continue;
    }
    if (Value* cast = castBack(graph, output, graph.return_node())) {
      graph.return_node()->replaceInput(index, cast);
      changed = true;
    } else if (!output->type()->cast<c10::TensorType>()) {
      context.analysis() << "output " << index << " (" << output->type()->repr_str()
                         << ") is no tensor: tensors it holds stay in half precision";
    }
  }
  return changed;
}

/// A read of a tensor or submodule attribute: the graph is not frozen, and
/// its weights would stay float32 behind half inputs.
Node* findAttributeRead(torch::jit::Graph& graph) {
  for (Node* node : collectNodes(graph, {c10::prim::GetAttr})) {
    auto module = node->output()->type()->cast<c10::ClassType>();
    if (node->output()->type()->cast<c10::TensorType>() || (module && module->is_module())) {
      return node;
    }
  }
  return nullptr;
}

bool ConvertHalfPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  const at::ScalarType half = parseHalfDtype(dtype.value(), name());
  const std::string pipeline = "--passes='O1,convert-half{dtype=" + dtype.value() + "},O2'";
  if (Node* packed = findPrepackedConstant(*graph)) {
    std::string type = packed->output()->type()->expect<c10::ClassType>()->name()->qualifiedName();
    const std::string customClasses = "__torch__.torch.classes.";
    if (type.rfind(customClasses, 0) == 0) {
      type = type.substr(customClasses.size());
    }
    throw Error(ErrorKind::Usage, name() + ": " + describeNode(packed) + " holds prepacked " + type +
                                      " weights: run convert-half before fusion and quantization, e.g. " + pipeline);
  }
  if (Node* read = findAttributeRead(*graph)) {
    throw Error(ErrorKind::Usage, name() + ": " + describeNode(read) +
                                      " reads an attribute: run convert-half on a frozen graph, e.g. " +
                                      pipeline);
  }
  // Dtype arguments before the boundary casts, which spell float32 themselves.
  bool changed = convertDtypeArguments(*graph, half, context);
  changed |= convertConstants(*graph, half, context);
  changed |= castInputs(*graph, half, context);
  // The outputs' recorded dtypes are the ones to restore: read them before
  // they are forgotten.
  changed |= castOutputs(*graph, context);
  if (changed) {
    forgetFloatDtypes(*graph);
  }
  return changed;
}

} // namespace tsopt
