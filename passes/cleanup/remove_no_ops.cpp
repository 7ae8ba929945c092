#include "passes/cleanup/remove_no_ops.h"

#include "passes/core/graph_utils.h"
#include "passes/core/ir_matchers.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

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

// Each `why...` returns why the node may not return its input unchanged, or ""
// when it provably does.

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
  if (producer->kind() == c10::aten::contiguous && producer->inputs().size() == 2 &&
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

} // namespace

bool RemoveNoOpsPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
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
    } else if (node->kind() == c10::aten::detach && node->inputs().size() == 1) {
      whyKept = identityCompared ? "the graph compares tensors with aten::__is__, which detach changes" : "";
    } else if (node->kind() == c10::aten::contiguous) {
      whyKept = whyContiguousMayCopy(node, assumeStaticShapes);
    } else if (node->kind() == c10::aten::to && node->outputs().size() == 1) {
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
      context.missed(node) << whyKept;
      continue;
    }
    if (!context.shouldRewrite("remove no-op " + describeNode(node), node)) {
      continue;
    }
    node->output()->replaceAllUsesWith(node->input(0));
    node->destroy();
    ++noOpsRemoved;
    changed = true;
  }
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
