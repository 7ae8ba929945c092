#include "passes/freezing/fold_static_shapes.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <deque>
#include <ostream>
#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;
using torch::jit::WithInsertPoint;

/// The constant an aten::size or aten::dim computes from its input's type, or
/// why there is none.
std::optional<c10::IValue> staticShapeValue(const Node* node, std::string& whyNot) {
  auto type = node->input(0)->type()->cast<c10::TensorType>();
  if (!type) {
    whyNot = "its input is not a tensor";
    return std::nullopt;
  }
  if (node->kind() == c10::aten::dim) {
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

bool FoldStaticShapesPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  if (!assumeStaticShapes) {
    context.missedText() << "assume-static-shapes is off: nothing folded";
    return false;
  }
  torch::jit::AliasDb aliasDb(graph);
  std::deque<Value*> folded;
  for (Node* node : collectNodes(*graph)) {
    bool size = node->kind() == c10::aten::size && (node->inputs().size() == 1 || node->inputs().size() == 2);
    bool dim = node->kind() == c10::aten::dim && node->inputs().size() == 1;
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
      context.missed(node) << whyNot;
      continue;
    }
    if (!context.shouldRewrite("fold " + describeNode(node) + " into a constant", node)) {
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
      if (constants.size() != outputs->size() || !context.shouldRewrite("fold " + describeNode(user) + " into a constant", user)) {
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
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
