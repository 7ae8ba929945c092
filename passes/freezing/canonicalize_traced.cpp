#include "passes/freezing/canonicalize_traced.h"

#include "passes/core/graph_utils.h"
#include "passes/core/ir_matchers.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <deque>
#include <ostream>
#include <unordered_map>
#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;
using torch::jit::WithInsertPoint;

const c10::Symbol kConvolution = c10::Symbol::fromQualString("aten::convolution");
const c10::Symbol kTracedConvolution = c10::Symbol::fromQualString("aten::_convolution");
const c10::Symbol kContiguous = c10::Symbol::fromQualString("aten::contiguous");
const c10::Symbol kDetach = c10::Symbol::fromQualString("aten::detach");
const c10::Symbol kTo = c10::Symbol::fromQualString("aten::to");
const c10::Symbol kAddmm = c10::Symbol::fromQualString("aten::addmm");
const c10::Symbol kMatmul = c10::Symbol::fromQualString("aten::matmul");
const c10::Symbol kAdd = c10::Symbol::fromQualString("aten::add");
const c10::Symbol kAddInPlace = c10::Symbol::fromQualString("aten::add_");
const c10::Symbol kTranspose2d = c10::Symbol::fromQualString("aten::t");
const c10::Symbol kLinear = c10::Symbol::fromQualString("aten::linear");
const c10::Symbol kSize = c10::Symbol::fromQualString("aten::size");
const c10::Symbol kDim = c10::Symbol::fromQualString("aten::dim");

bool isConstantOne(const Value* value) {
  auto constant = torch::jit::toIValue(value);
  return constant && ((constant->isInt() && constant->toInt() == 1) ||
                      (constant->isDouble() && constant->toDouble() == 1.0));
}

std::optional<at::ScalarType> knownDtype(const Value* value) {
  if (auto tensor = constantTensor(value)) {
    return tensor->scalar_type();
  }
  auto type = value->type()->cast<c10::TensorType>();
  if (auto dtype = type ? type->scalarType() : c10::nullopt) {
    return *dtype;
  }
  return std::nullopt;
}

std::optional<at::Device> knownDevice(const Value* value) {
  if (auto tensor = constantTensor(value)) {
    return tensor->device();
  }
  auto type = value->type()->cast<c10::TensorType>();
  if (auto device = type ? type->device() : c10::nullopt) {
    return *device;
  }
  return std::nullopt;
}

/// Elements of an int[] that is a constant or a prim::ListConstruct of constants.
std::optional<std::vector<int64_t>> constantIntList(const Value* list) {
  if (auto constant = torch::jit::toIValue(list)) {
    return constant->isIntList() ? std::optional(constant->toIntVector()) : std::nullopt;
  }
  if (list->node()->kind() != c10::prim::ListConstruct) {
    return std::nullopt;
  }
  std::vector<int64_t> elements;
  for (const Value* element : list->node()->inputs()) {
    auto constant = torch::jit::constant_as<int64_t>(element);
    if (!constant) {
      return std::nullopt;
    }
    elements.push_back(*constant);
  }
  return elements;
}

/// Length of an int[] built in the graph, even when its elements are not constants.
std::optional<size_t> listLength(const Value* list) {
  if (list->node()->kind() == c10::prim::ListConstruct) {
    return list->node()->inputs().size();
  }
  auto elements = constantIntList(list);
  return elements ? std::optional(elements->size()) : std::nullopt;
}

/// Whether some node compares tensors by identity: dropping a detach (which
/// returns a new tensor object) would change its answer.
bool comparesTensorIdentity(Graph& graph) {
  static const c10::Symbol is = c10::Symbol::fromQualString("aten::__is__");
  static const c10::Symbol isNot = c10::Symbol::fromQualString("aten::__isnot__");
  for (const Node* node : collectNodes(graph)) {
    if ((node->kind() == is || node->kind() == isNot) &&
        std::any_of(node->inputs().begin(), node->inputs().end(),
                    [](const Value* input) { return input->type()->cast<c10::TensorType>() != nullptr; })) {
      return true;
    }
  }
  return false;
}

//===----------------------------------------------------------------------===//
// No-ops. Each `why...` returns why the node may not return its input
// unchanged, or "" when it provably does.
//===----------------------------------------------------------------------===//

std::string whyToMayChange(const Node* node) {
  const c10::FunctionSchema* schema = node->maybeSchema();
  if (!schema) {
    return "no known overload matches it";
  }
  auto argument = [&](const char* name) -> const Value* {
    auto index = schema->argumentIndexWithName(name);
    return index ? node->input(*index) : nullptr;
  };
  const Value* self = node->input(0);
  if (const Value* copy = argument("copy")) {
    auto value = torch::jit::constant_as<bool>(copy);
    if (!value || *value) {
      return "copy is not the constant False";
    }
  }
  if (const Value* format = argument("memory_format")) {
    auto value = torch::jit::toIValue(format);
    if (!value || !(value->isNone() || (value->isInt() && value->toInt() ==
                                                              static_cast<int64_t>(c10::MemoryFormat::Preserve)))) {
      return "it asks for a memory format";
    }
  }
  if (const Value* layout = argument("layout"); layout && !isNoneConstant(layout)) {
    return "it sets a layout";
  }
  if (const Value* pin = argument("pin_memory"); pin && !isNoneConstant(pin)) {
    auto pinned = torch::jit::constant_as<bool>(pin);
    if (!pinned || *pinned) {
      return "it may pin memory";
    }
  }
  std::optional<at::ScalarType> targetDtype;
  std::optional<at::Device> targetDevice;
  if (const Value* other = argument("other")) {
    targetDtype = knownDtype(other);
    targetDevice = knownDevice(other);
    if (!targetDtype || !targetDevice) {
      return "the dtype or device of `other` is not known";
    }
  }
  if (const Value* dtype = argument("dtype"); dtype && !isNoneConstant(dtype)) {
    auto value = torch::jit::constant_as<int64_t>(dtype);
    if (!value || *value < 0 || *value >= static_cast<int64_t>(at::ScalarType::NumOptions)) {
      return "the dtype is not a constant scalar type";
    }
    targetDtype = static_cast<at::ScalarType>(*value);
  }
  if (const Value* device = argument("device"); device && !isNoneConstant(device)) {
    auto value = torch::jit::toIValue(device);
    if (!value || !value->isDevice()) {
      return "the device is not a constant";
    }
    targetDevice = value->toDevice();
  }
  if (targetDtype) {
    auto dtype = knownDtype(self);
    if (!dtype) {
      return "the input's dtype is not known";
    }
    if (*dtype != *targetDtype) {
      return std::string("it converts ") + c10::toString(*dtype) + " to " + c10::toString(*targetDtype);
    }
  }
  if (targetDevice) {
    auto device = knownDevice(self);
    if (!device) {
      return "the input's device is not known";
    }
    if (*device != *targetDevice) {
      return "it moves the tensor from " + device->str() + " to " + targetDevice->str();
    }
  }
  return "";
}

std::string whyContiguousMayCopy(const Node* node, bool assumeStaticShapes) {
  if (node->inputs().size() != 2) {
    return "it has an unknown form";
  }
  auto format = torch::jit::constant_as<int64_t>(node->input(1));
  if (!format) {
    return "the memory format is not a constant";
  }
  auto memoryFormat = static_cast<c10::MemoryFormat>(*format);
  if (memoryFormat != c10::MemoryFormat::Contiguous && memoryFormat != c10::MemoryFormat::ChannelsLast &&
      memoryFormat != c10::MemoryFormat::ChannelsLast3d) {
    return "the memory format is not contiguous or channels-last";
  }
  const Value* self = node->input(0);
  if (auto tensor = constantTensor(self)) {
    return tensor->is_contiguous(memoryFormat) ? "" : "its constant input is not contiguous";
  }
  const Node* producer = self->node();
  if (producer->kind() == kContiguous && producer->inputs().size() == 2 &&
      torch::jit::constant_as<int64_t>(producer->input(1)) == format) {
    return "";
  }
  if (!assumeStaticShapes) {
    return "the input's contiguity is not known (recorded strides count only with assume-static-shapes)";
  }
  auto type = self->type()->cast<c10::TensorType>();
  auto sizes = type ? type->sizes().concrete_sizes() : c10::nullopt;
  auto strides = type ? type->strides().concrete_sizes() : c10::nullopt;
  if (!sizes || !strides || sizes->size() != strides->size() ||
      std::any_of(strides->begin(), strides->end(), [](int64_t stride) { return stride < 0; })) {
    return "the input's type records no strides";
  }
  at::Tensor layout = at::empty_strided(*sizes, *strides, at::TensorOptions().device(at::kMeta));
  return layout.is_contiguous(memoryFormat) ? "" : "the input's recorded strides are not contiguous";
}

//===----------------------------------------------------------------------===//
// Convolutions
//===----------------------------------------------------------------------===//

/// The conv*d or conv_transpose*d call equivalent to an aten::_convolution or
/// aten::convolution, or why there is none. Both start with
/// (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups).
struct CanonicalConvolution {
  c10::Symbol kind;
  std::vector<Value*> inputs;
  std::string whyNot;
};

CanonicalConvolution canonicalConvolution(Node* node) {
  CanonicalConvolution result;
  Value* stride = node->input(3);
  Value* padding = node->input(4);
  Value* dilation = node->input(5);
  Value* outputPadding = node->input(7);
  auto transposed = torch::jit::constant_as<bool>(node->input(6));
  if (!transposed) {
    result.whyNot = "the transposed flag is not a constant";
    return result;
  }
  auto rank = listLength(stride);
  if (!rank || *rank < 1 || *rank > 3) {
    result.whyNot = "the stride list length is not known to be 1, 2 or 3";
    return result;
  }
  for (const Value* list : {padding, dilation, outputPadding}) {
    if (listLength(list) != rank) {
      result.whyNot = "the padding, dilation or output_padding list is not known to be as long as stride";
      return result;
    }
  }
  auto weightRank = knownRank(node->input(1));
  auto inputRank = knownRank(node->input(0));
  if ((weightRank && *weightRank != *rank + 2) || (inputRank && *inputRank != *rank + 2)) {
    result.whyNot = "the input or weight rank does not match the stride list length";
    return result;
  }
  // _convolution expands a one-element list to any rank, so [1] alone does not
  // say the convolution is 1-D.
  if (*rank == 1 && !weightRank && !inputRank) {
    result.whyNot = "one-element lists fit any rank and the input and weight ranks are not known";
    return result;
  }
  std::string dims = std::to_string(*rank) + "d";
  Value* groups = node->input(8);
  Value* head[] = {node->input(0), node->input(1), node->input(2), stride, padding};
  result.inputs.assign(std::begin(head), std::end(head));
  if (*transposed) {
    result.kind = c10::Symbol::fromQualString("aten::conv_transpose" + dims);
    result.inputs.insert(result.inputs.end(), {outputPadding, groups, dilation});
    return result;
  }
  auto outputPaddingValues = constantIntList(outputPadding);
  if (!outputPaddingValues ||
      std::any_of(outputPaddingValues->begin(), outputPaddingValues->end(), [](int64_t v) { return v != 0; })) {
    result.whyNot = "output_padding is not known to be zero and conv" + dims + " has no such argument";
    return result;
  }
  result.kind = c10::Symbol::fromQualString("aten::conv" + dims);
  result.inputs.insert(result.inputs.end(), {dilation, groups});
  return result;
}

bool isConvolution(const Node* node) {
  return (node->kind() == kTracedConvolution && (node->inputs().size() == 12 || node->inputs().size() == 13)) ||
         (node->kind() == kConvolution && node->inputs().size() == 9);
}

//===----------------------------------------------------------------------===//
// Linear
//===----------------------------------------------------------------------===//

/// aten::linear's (out_features x in_features) weight for a constant W^T: W
/// itself when W^T = aten::t(W), else W^T.t() as a new constant.
struct LinearWeight {
  Value* existing = nullptr;  ///< W, when the graph already holds it.
  at::Tensor tensor;          ///< W's value (a transposed view when not `existing`).
};

std::optional<LinearWeight> linearWeightOf(Value* transposedWeight, std::string& whyNot) {
  Node* producer = transposedWeight->node();
  if (producer->kind() == kTranspose2d && producer->inputs().size() == 1) {
    auto weight = constantTensor(producer->input());
    if (!weight || weight->dim() != 2) {
      whyNot = "the weight is not a constant 2-D tensor";
      return std::nullopt;
    }
    return LinearWeight{producer->input(), *weight};
  }
  auto transposed = constantTensor(transposedWeight);
  if (!transposed || transposed->dim() != 2) {
    whyNot = "the second operand is not a constant 2-D weight";
    return std::nullopt;
  }
  return LinearWeight{nullptr, transposed->t()};
}

/// Whether `bias` can be aten::linear's bias for `weight`: a constant 1-D tensor
/// of out_features elements with the weight's dtype and device, so adding it
/// neither broadcasts the output to another shape nor promotes its dtype.
bool isLinearBias(const Value* bias, const at::Tensor& weight) {
  auto tensor = bias ? constantTensor(bias) : std::nullopt;
  return tensor && tensor->dim() == 1 && tensor->size(0) == weight.size(0) &&
         tensor->scalar_type() == weight.scalar_type() && tensor->device() == weight.device();
}

/// The bias of `add(product, b, 1)`, `add(b, product, 1)` or `add_(product, b, 1)`
/// when that add is `product`'s only use, in the same block; else nullptr.
Value* biasAddOf(Value* product, const at::Tensor& weight, Node*& add) {
  if (product->uses().size() != 1) {
    return nullptr;
  }
  Node* user = product->uses()[0].user;
  if (user->owningBlock() != product->node()->owningBlock() || user->inputs().size() != 3 ||
      !isConstantOne(user->input(2))) {
    return nullptr;
  }
  Value* bias = nullptr;
  if (user->kind() == kAdd) {
    bias = user->input(0) == product ? user->input(1) : user->input(0);
  } else if (user->kind() == kAddInPlace && user->input(0) == product) {
    bias = user->input(1);
  }
  if (!bias || bias == product || !isLinearBias(bias, weight)) {
    return nullptr;
  }
  add = user;
  return bias;
}

/// Constants the new aten::linear nodes take, made once and placed at the top
/// of the graph so that they dominate every use.
class LinearConstants {
public:
  explicit LinearConstants(Graph& graph) : graph_(graph) {}

  Value* weight(Value* transposedWeight, const LinearWeight& weight) {
    if (weight.existing) {
      return weight.existing;
    }
    Value*& made = weights_[transposedWeight];
    if (!made) {
      WithInsertPoint top(graph_.block()->nodes().front());
      made = graph_.insertConstant(weight.tensor.clone(at::MemoryFormat::Contiguous));
    }
    return made;
  }

  Value* none() {
    if (!none_) {
      WithInsertPoint top(graph_.block()->nodes().front());
      none_ = graph_.insertConstant(c10::IValue());
    }
    return none_;
  }

private:
  Graph& graph_;
  std::unordered_map<Value*, Value*> weights_;
  Value* none_ = nullptr;
};

//===----------------------------------------------------------------------===//
// Static shapes
//===----------------------------------------------------------------------===//

/// The constant an aten::size or aten::dim computes from its input's type, or
/// why there is none.
std::optional<c10::IValue> staticShapeValue(const Node* node, std::string& whyNot) {
  auto type = node->input(0)->type()->cast<c10::TensorType>();
  if (!type) {
    whyNot = "its input is not a tensor";
    return std::nullopt;
  }
  if (node->kind() == kDim) {
    if (!type->dim()) {
      whyNot = "the input's type records no rank";
      return std::nullopt;
    }
    return c10::IValue(static_cast<int64_t>(*type->dim()));
  }
  if (node->inputs().size() == 1) {
    auto sizes = type->sizes().concrete_sizes();
    if (!sizes) {
      whyNot = "the input's type records no complete shape";
      return std::nullopt;
    }
    return c10::IValue(*sizes);
  }
  auto dim = torch::jit::constant_as<int64_t>(node->input(1));
  auto rank = type->dim();
  if (!dim || !rank) {
    whyNot = "the dimension or the input's rank is not known";
    return std::nullopt;
  }
  int64_t index = *dim < 0 ? *dim + static_cast<int64_t>(*rank) : *dim;
  auto size = index >= 0 && index < static_cast<int64_t>(*rank) ? type->sizes()[index] : c10::nullopt;
  if (!size) {
    whyNot = "the input's type does not record that dimension";
    return std::nullopt;
  }
  return c10::IValue(*size);
}

/// Whether constant propagation may evaluate `node` once its inputs are constant
/// (the rules of torch::jit::ConstantPropagation).
bool foldable(Node* node, const torch::jit::AliasDb& aliasDb) {
  static const std::unordered_set<c10::Symbol> skipped = {
      c10::prim::If, c10::prim::Loop, c10::prim::Closure, c10::prim::Constant, c10::prim::AutogradZero,
      c10::prim::Uninitialized, c10::prim::Guard, c10::prim::profile, c10::prim::profile_ivalue,
      c10::prim::unchecked_unwrap_optional, c10::Symbol::fromQualString("aten::dequantize")};
  return !skipped.count(node->kind()) && !node->kind().is_onnx() && node->blocks().empty() &&
         !node->isNondeterministic() && !node->hasSideEffects() && !aliasDb.hasWriters(node) &&
         std::all_of(node->inputs().begin(), node->inputs().end(),
                     [](const Value* input) { return input->node()->kind() == c10::prim::Constant; });
}

} // namespace

bool CanonicalizeTracedPass::removeNoOps(std::shared_ptr<Graph>& graph, PassContext& context) {
  torch::jit::AliasDb aliasDb(graph);
  bool identityCompared = comparesTensorIdentity(*graph);
  bool changed = false;
  for (Node* node : collectNodes(*graph)) {
    std::string whyKept;
    DropoutBehavior dropout = classifyDropout(node);
    if (dropout != DropoutBehavior::NotDropout) {
      whyKept = dropout == DropoutBehavior::Identity ? ""
                : dropout == DropoutBehavior::Drops  ? "training mode with p > 0"
                                                     : "the train flag or p is not a constant";
    } else if (node->kind() == kDetach && node->inputs().size() == 1) {
      whyKept = identityCompared ? "the graph compares tensors with aten::__is__, which detach changes" : "";
    } else if (node->kind() == kContiguous) {
      whyKept = whyContiguousMayCopy(node, assumeStaticShapes);
    } else if (node->kind() == kTo && node->outputs().size() == 1) {
      whyKept = whyToMayChange(node);
    } else {
      continue;
    }
    // A dropout that is the identity returns its input; the others must not be
    // written through either name, or removing them could change what a write reaches.
    if (whyKept.empty() && dropout == DropoutBehavior::NotDropout &&
        (aliasDb.hasWriters(node->input(0)) || aliasDb.hasWriters(node->output()))) {
      whyKept = "its input or result is written in place";
    }
    if (!whyKept.empty()) {
      ++noOpsKept;
      context.debug() << "kept " << describeNode(node) << ": " << whyKept << "\n";
      continue;
    }
    if (!context.shouldRewrite("remove no-op " + describeNode(node))) {
      continue;
    }
    node->output()->replaceAllUsesWith(node->input(0));
    node->destroy();
    ++noOpsRemoved;
    changed = true;
  }
  return changed;
}

bool CanonicalizeTracedPass::canonicalizeConvolutions(Graph& graph, PassContext& context) {
  bool changed = false;
  for (Node* node : collectNodes(graph)) {
    if (!isConvolution(node)) {
      continue;
    }
    CanonicalConvolution canonical = canonicalConvolution(node);
    Node* replacement = nullptr;
    if (canonical.whyNot.empty()) {
      replacement = graph.create(canonical.kind, canonical.inputs, 1)->insertBefore(node);
      if (!replacement->maybeSchema()) {
        replacement->destroy();
        replacement = nullptr;
        canonical.whyNot = std::string("no schema of ") + canonical.kind.toQualString() + " takes its arguments";
      }
    }
    if (!replacement) {
      ++convolutionsKept;
      context.debug() << "kept " << describeNode(node) << ": " << canonical.whyNot << "\n";
      continue;
    }
    if (!context.shouldRewrite(describeNode(node) + " -> " + canonical.kind.toQualString())) {
      replacement->destroy();
      continue;
    }
    replacement->copyMetadata(node);
    replacement->output()->copyMetadata(node->output());
    node->output()->replaceAllUsesWith(replacement->output());
    node->destroy();
    ++convolutions;
    changed = true;
  }
  return changed;
}

bool CanonicalizeTracedPass::formLinears(Graph& graph, PassContext& context) {
  LinearConstants constants(graph);
  std::unordered_set<Node*> destroyed;
  bool changed = false;
  auto keep = [&](Node* node, const std::string& why) {
    ++linearsKept;
    context.debug() << "kept " << describeNode(node) << ": " << why << "\n";
  };
  for (Node* node : collectNodes(graph)) {
    if (destroyed.count(node)) {
      continue;
    }
    bool addmm = node->kind() == kAddmm && node->inputs().size() == 5;
    bool matmul = node->kind() == kMatmul && node->inputs().size() == 2;
    if (!addmm && !matmul) {
      continue;
    }
    if (addmm && !(isConstantOne(node->input(3)) && isConstantOne(node->input(4)))) {
      keep(node, "beta or alpha is not the constant 1");
      continue;
    }
    std::string whyNot;
    Value* transposedWeight = node->input(addmm ? 2 : 1);
    auto weight = linearWeightOf(transposedWeight, whyNot);
    if (!weight) {
      keep(node, whyNot);
      continue;
    }
    Node* add = nullptr;
    Value* bias = addmm ? node->input(0) : biasAddOf(node->output(), weight->tensor, add);
    if (addmm && !isLinearBias(bias, weight->tensor)) {
      keep(node, "the bias is not a constant 1-D tensor of out_features elements with the weight's dtype");
      continue;
    }
    Node* replaced = add ? add : node;
    if (!context.shouldRewrite(describeNode(node) + (add ? " + " + describeNode(add) : "") + " -> aten::linear")) {
      continue;
    }
    Value* inputs[] = {node->input(addmm ? 1 : 0), constants.weight(transposedWeight, *weight),
                       bias ? bias : constants.none()};
    Node* linear = graph.create(kLinear, inputs, 1);
    linear->insertBefore(replaced);
    linear->copyMetadata(replaced);
    linear->output()->copyMetadata(replaced->output());
    replaced->output()->replaceAllUsesWith(linear->output());
    if (add) {
      destroyed.insert(add);
      add->destroy();
      ++biasesFolded;
    }
    node->destroy();
    ++linears;
    changed = true;
  }
  return changed;
}

bool CanonicalizeTracedPass::foldStaticShapes(std::shared_ptr<Graph>& graph, PassContext& context) {
  if (!assumeStaticShapes) {
    return false;
  }
  torch::jit::AliasDb aliasDb(graph);
  std::deque<Value*> folded;
  for (Node* node : collectNodes(*graph)) {
    bool size = node->kind() == kSize && (node->inputs().size() == 1 || node->inputs().size() == 2);
    bool dim = node->kind() == kDim && node->inputs().size() == 1;
    if (!size && !dim) {
      continue;
    }
    std::string whyNot;
    auto value = staticShapeValue(node, whyNot);
    if (value && aliasDb.hasWriters(node->output())) {
      value.reset();
      whyNot = "the list it returns is written in place";
    }
    if (!value) {
      ++shapesKept;
      context.debug() << "kept " << describeNode(node) << ": " << whyNot << "\n";
      continue;
    }
    if (!context.shouldRewrite("fold " + describeNode(node) + " into a constant")) {
      continue;
    }
    WithInsertPoint here(node);
    Value* constant = graph->insertConstant(*value);
    node->output()->replaceAllUsesWith(constant);
    node->destroy();
    ++shapesFolded;
    folded.push_back(constant);
  }
  bool changed = !folded.empty();
  // Propagate into the nodes the folded shapes feed, and into theirs in turn.
  while (!folded.empty()) {
    Value* constant = folded.front();
    folded.pop_front();
    std::vector<Node*> users;
    for (const torch::jit::Use& use : constant->uses()) {
      if (std::find(users.begin(), users.end(), use.user) == users.end()) {
        users.push_back(use.user);
      }
    }
    for (Node* user : users) {
      if (!foldable(user, aliasDb)) {
        continue;
      }
      auto outputs = torch::jit::runNodeIfInputsAreConstant(user);
      if (!outputs || outputs->size() != user->outputs().size()) {
        continue;
      }
      WithInsertPoint here(user);
      std::vector<Value*> constants;
      for (const c10::IValue& output : *outputs) {
        auto inserted = torch::jit::tryInsertConstant(*graph, output);
        if (!inserted) {
          break;
        }
        constants.push_back(*inserted);
      }
      if (constants.size() != outputs->size() || !context.shouldRewrite("fold " + describeNode(user) + " into a constant")) {
        for (Value* unused : constants) {
          unused->node()->destroy();
        }
        continue;
      }
      for (size_t i = 0; i < constants.size(); ++i) {
        if ((*outputs)[i].isNone()) {
          constants[i]->setType(user->output(i)->type());
        }
        user->output(i)->replaceAllUsesWith(constants[i]);
        folded.push_back(constants[i]);
      }
      user->destroy();
      ++shapeArithmeticFolded;
    }
  }
  return changed;
}

bool CanonicalizeTracedPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  bool changed = removeNoOps(graph, context);
  changed |= canonicalizeConvolutions(*graph, context);
  changed |= formLinears(*graph, context);
  changed |= foldStaticShapes(graph, context);
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
