#include "passes/fusion/sink_views.h"

#include "passes/core/graph_utils.h"
#include "passes/core/ir_matchers.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <ostream>
#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// Rounds of sinking: each moves views one op further down a chain.
constexpr int kMaxRounds = 8;

bool onlyFirstInputIsTensor(const Node* node) {
  return !node->inputs().empty() && isTensor(node->input(0)) &&
         std::none_of(node->inputs().begin() + 1, node->inputs().end(), isTensor);
}

bool isShapeOnlyView(const Node* node) {
  return isShapeOnlyViewKind(node->kind()) && node->outputs().size() == 1 && onlyFirstInputIsTensor(node);
}

/// Element-wise ops of one tensor (their other arguments are numbers or strings).
bool isUnaryElementwise(const Node* node) {
  return isUnaryElementwiseKind(node->kind()) && node->outputs().size() == 1 && onlyFirstInputIsTensor(node);
}

std::optional<std::vector<int64_t>> knownSizes(const Value* value) {
  auto type = value->type()->cast<c10::TensorType>();
  auto sizes = type ? type->sizes().concrete_sizes() : c10::nullopt;
  return sizes ? std::optional<std::vector<int64_t>>(*sizes) : std::nullopt;
}

/// Whether the value's type records it as dense and contiguous, so that a
/// reshape of it is a view and never a copy.
bool knownContiguous(const Value* value) {
  auto type = value->type()->cast<c10::TensorType>();
  auto sizes = type ? type->sizes().concrete_sizes() : c10::nullopt;
  auto strides = type ? type->strides().concrete_sizes() : c10::nullopt;
  if (!sizes || !strides || sizes->size() != strides->size()) {
    return false;
  }
  int64_t expected = 1;
  for (size_t dim = sizes->size(); dim-- > 0;) {
    if ((*sizes)[dim] != 1 && (*strides)[dim] != expected) {
      return false;
    }
    expected *= (*sizes)[dim];
  }
  return true;
}

/// The type of `op`'s result computed on `input` rather than on its view.
c10::TypePtr unviewedType(const Value* input, const Value* result) {
  auto inputType = input->type()->cast<c10::TensorType>();
  auto resultType = result->type()->cast<c10::TensorType>();
  if (!inputType) {
    return c10::TensorType::get();
  }
  return inputType->withScalarType(resultType ? resultType->scalarType() : c10::nullopt);
}

Node* insertLike(Graph& graph, Node* like, c10::Symbol kind, const std::vector<Value*>& inputs,
                 c10::TypePtr type) {
  Node* node = graph.insertNode(graph.create(kind, inputs, 1));
  node->setSourceRange(like->sourceRange());
  if (like->scope()) {
    node->setScope(like->scope());
  }
  node->output()->setType(std::move(type));
  return node;
}

bool isLayerOutput(const Value* value) { return isLayerKind(value->node()->kind()); }

/// The side of a residual add that is a view of a layer's result, when the
/// other side is not a layer's result itself (the add then already sits next
/// to a layer, and moving the view would only move it back and forth).
struct AddOperands {
  size_t viewSide;
  Node* view;
};

std::optional<AddOperands> viewOperandOfAdd(const Node* add) {
  if (add->kind() != c10::aten::add || add->inputs().size() != 3 || add->outputs().size() != 1 ||
      !isTensor(add->input(0)) || !isTensor(add->input(1)) || isTensor(add->input(2))) {
    return std::nullopt;
  }
  for (size_t side : {size_t{0}, size_t{1}}) {
    Node* producer = add->input(side)->node();
    if (isShapeOnlyView(producer) && isLayerOutput(producer->input(0)) && !isLayerOutput(add->input(1 - side))) {
      return AddOperands{side, producer};
    }
  }
  return std::nullopt;
}

class ViewSinker {
public:
  ViewSinker(std::shared_ptr<Graph> graph, PassContext& context) : graph_(std::move(graph)), context_(context) {}

  size_t sunk = 0;
  size_t kept = 0;

  /// One round over the graph; returns whether anything moved.
  bool round() {
    aliasDb_ = std::make_unique<torch::jit::AliasDb>(graph_);
    created_.clear();
    bool changed = false;
    for (Node* node : collectNodes(*graph_)) {
      if (created_.count(node) != 0) {
        continue;
      }
      if (isUnaryElementwise(node) && isShapeOnlyView(node->input(0)->node()) &&
          created_.count(node->input(0)->node()) == 0) {
        changed |= sinkBelowUnary(node, node->input(0)->node());
      } else if (auto operands = viewOperandOfAdd(node); operands && created_.count(operands->view) == 0) {
        changed |= sinkBelowAdd(node, *operands);
      }
    }
    return changed;
  }

private:
  bool writable(const Node* view) {
    return aliasDb_->hasWriters(view->output()) || aliasDb_->hasWriters(view->input(0));
  }

  /// Reports each op once, however many rounds see it.
  bool keep(const Node* op, const std::string& reason) {
    if (reported_.insert(op).second) {
      context_.missedText(op) << "kept the view above " << describeNode(op) << ": " << reason;
      ++kept;
    }
    return false;
  }

  bool sinkBelowUnary(Node* op, Node* view) {
    if (writable(view)) {
      return keep(op, "the view or the viewed value is written in place");
    }
    if (!context_.shouldRewrite("move " + describeNode(view) + " below " + describeNode(op), view)) {
      return false;
    }
    torch::jit::WithInsertPoint guard(op);
    std::vector<Value*> inputs(op->inputs().begin(), op->inputs().end());
    inputs[0] = view->input(0);
    Node* fresh = insertLike(*graph_, op, op->kind(), inputs, unviewedType(view->input(0), op->output()));
    finish(op, view, fresh);
    return true;
  }

  bool sinkBelowAdd(Node* add, const AddOperands& operands) {
    Node* view = operands.view;
    Value* residual = add->input(1 - operands.viewSide);
    auto viewed = knownSizes(view->input(0));
    auto viewShape = knownSizes(view->output());
    auto residualShape = knownSizes(residual);
    if (!viewed || !viewShape || !residualShape || *residualShape != *viewShape) {
      return keep(add, "the add may broadcast: the shapes of its operands are not known to be equal");
    }
    if (!knownContiguous(residual)) {
      return keep(add, "the other operand is not known to be contiguous (its reshape could copy)");
    }
    if (writable(view) || aliasDb_->hasWriters(residual)) {
      return keep(add, "an operand or the viewed value is written in place");
    }
    if (!context_.shouldRewrite("move " + describeNode(view) + " below " + describeNode(add), view)) {
      return false;
    }
    torch::jit::WithInsertPoint guard(add);
    auto residualType = residual->type()->cast<c10::TensorType>();
    Node* reshaped = insertLike(*graph_, add, c10::aten::reshape, {residual, graph_->insertConstant(*viewed)},
                                view->input(0)->type()->cast<c10::TensorType>()->withScalarType(
                                    residualType ? residualType->scalarType() : c10::nullopt));
    std::vector<Value*> inputs(add->inputs().begin(), add->inputs().end());
    inputs[operands.viewSide] = view->input(0);
    inputs[1 - operands.viewSide] = reshaped->output();
    Node* fresh = insertLike(*graph_, add, c10::aten::add, inputs, unviewedType(view->input(0), add->output()));
    created_.insert(reshaped);
    finish(add, view, fresh);
    return true;
  }

  /// `op`'s uses now read `view` applied to `fresh`, op's replacement on the unviewed value.
  void finish(Node* op, Node* view, Node* fresh) {
    std::vector<Value*> viewInputs(view->inputs().begin(), view->inputs().end());
    viewInputs[0] = fresh->output();
    Node* moved = insertLike(*graph_, view, view->kind(), viewInputs, op->output()->type());
    op->output()->replaceAllUsesWith(moved->output());
    created_.insert(fresh);
    created_.insert(moved);
    ++sunk;
  }

  std::shared_ptr<Graph> graph_;
  PassContext& context_;
  std::unique_ptr<torch::jit::AliasDb> aliasDb_;
  std::unordered_set<const Node*> created_;  ///< Not in aliasDb_: wait for the next round.
  std::unordered_set<const Node*> reported_;
};

} // namespace

bool SinkViewsPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  ViewSinker sinker(graph, context);
  bool changed = false;
  for (int round = 0; round < kMaxRounds && sinker.round(); ++round) {
    changed = true;
    torch::jit::EliminateDeadCode(graph);
  }
  sunk += sinker.sunk;
  kept += sinker.kept;
  return changed;
}

} // namespace tsopt
