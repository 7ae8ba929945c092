#include "passes/core/graph_utils.h"

#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>

namespace tsopt {
namespace {

template <typename Predicate> size_t countBlockNodes(const torch::jit::Block* block, const Predicate& keep) {
  size_t count = 0;
  for (const torch::jit::Node* node : block->nodes()) {
    count += keep(node) ? 1 : 0;
    for (const torch::jit::Block* child : node->blocks()) {
      count += countBlockNodes(child, keep);
    }
  }
  return count;
}

template <typename Predicate>
void collectBlockNodes(torch::jit::Block* block, const Predicate& keep, std::vector<torch::jit::Node*>& found) {
  for (torch::jit::Node* node : block->nodes()) {
    if (keep(node)) {
      found.push_back(node);
    }
    for (torch::jit::Block* child : node->blocks()) {
      collectBlockNodes(child, keep, found);
    }
  }
}

} // namespace

size_t countNodes(const torch::jit::Graph& graph) {
  return countBlockNodes(graph.block(), [](const torch::jit::Node*) { return true; });
}

size_t countNodesOfKind(const torch::jit::Graph& graph, torch::jit::NodeKind kind) {
  return countBlockNodes(graph.block(), [kind](const torch::jit::Node* node) { return node->kind() == kind; });
}

std::vector<torch::jit::Node*> collectNodes(torch::jit::Graph& graph, const std::vector<torch::jit::NodeKind>& kinds) {
  std::vector<torch::jit::Node*> found;
  auto ofKinds = [&kinds](const torch::jit::Node* node) {
    return std::find(kinds.begin(), kinds.end(), node->kind()) != kinds.end();
  };
  collectBlockNodes(graph.block(), ofKinds, found);
  return found;
}

std::vector<torch::jit::Node*> collectNodes(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> found;
  collectBlockNodes(graph.block(), [](const torch::jit::Node*) { return true; }, found);
  return found;
}

std::string describeNode(const torch::jit::Node* node) {
  std::string text;
  for (const torch::jit::Value* output : node->outputs()) {
    text += (text.empty() ? "%" : ", %") + output->debugName();
  }
  return (text.empty() ? "" : text + " = ") + node->kind().toQualString();
}

bool isTensor(const torch::jit::Value* value) { return value->type()->isSubtypeOf(*c10::TensorType::get()); }

std::optional<at::Tensor> constantTensor(const torch::jit::Value* value) {
  auto constant = torch::jit::toIValue(value);
  if (constant && constant->isTensor() && constant->toTensor().defined()) {
    return constant->toTensor();
  }
  return std::nullopt;
}

bool isNoneConstant(const torch::jit::Value* value) {
  auto constant = torch::jit::toIValue(value);
  return constant && constant->isNone();
}

std::optional<size_t> knownRank(const torch::jit::Value* value) {
  if (auto tensor = constantTensor(value)) {
    return static_cast<size_t>(tensor->dim());
  }
  auto type = value->type()->cast<c10::TensorType>();
  if (auto rank = type ? type->dim() : c10::nullopt) {
    return *rank;
  }
  return std::nullopt;
}

std::optional<std::vector<int64_t>> constantIntList(const torch::jit::Value* list) {
  if (auto constant = torch::jit::toIValue(list)) {
    return constant->isIntList() ? std::optional(constant->toIntVector()) : std::nullopt;
  }
  if (list->node()->kind() != c10::prim::ListConstruct) {
    return std::nullopt;
  }
  std::vector<int64_t> elements;
  for (const torch::jit::Value* element : list->node()->inputs()) {
    auto constant = torch::jit::constant_as<int64_t>(element);
    if (!constant) {
      return std::nullopt;
    }
    elements.push_back(*constant);
  }
  return elements;
}

void replaceGraphContents(torch::jit::Graph& target, torch::jit::Graph& source) {
  target.block()->clear();
  target.block()->cloneFrom(source.block(), [](torch::jit::Value* free) -> torch::jit::Value* {
    TORCH_CHECK(false, "graph has a free variable %", free->debugName());
  });
}

namespace {

/// Places nodes[lo, hi) right before `next`: the middle one first, then each
/// half on its side of it.
void placeBisecting(const std::vector<torch::jit::Node*>& nodes, size_t lo, size_t hi, torch::jit::Node* next) {
  if (lo >= hi) {
    return;
  }
  const size_t middle = lo + (hi - lo) / 2;
  nodes[middle]->moveBefore(next);
  placeBisecting(nodes, lo, middle, nodes[middle]);
  placeBisecting(nodes, middle + 1, hi, next);
}

} // namespace

void moveBeforeInOrder(const std::vector<torch::jit::Node*>& nodes, torch::jit::Node* anchor) {
  placeBisecting(nodes, 0, nodes.size(), anchor);
}

} // namespace tsopt
