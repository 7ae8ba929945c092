#include "passes/freezing/form_linear.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <ostream>
#include <unordered_map>
#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;
using torch::jit::WithInsertPoint;

bool isConstantOne(const Value* value) {
  auto constant = torch::jit::toIValue(value);
  return constant && ((constant->isInt() && constant->toInt() == 1) ||
                      (constant->isDouble() && constant->toDouble() == 1.0));
}

/// aten::linear's (out_features x in_features) weight for a constant W^T: W
/// itself when W^T = aten::t(W), else W^T.t() as a new constant.
struct LinearWeight {
  Value* existing = nullptr;  ///< W, when the graph already holds it.
  at::Tensor tensor;          ///< W's value (a transposed view when not `existing`).
};

std::optional<LinearWeight> linearWeightOf(Value* transposedWeight, std::string& whyNot) {
  Node* producer = transposedWeight->node();
  if (producer->kind() == c10::aten::t && producer->inputs().size() == 1) {
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
  if (user->kind() == c10::aten::add) {
    bias = user->input(0) == product ? user->input(1) : user->input(0);
  } else if (user->kind() == c10::aten::add_ && user->input(0) == product) {
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

} // namespace

bool FormLinearPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  LinearConstants constants(*graph);
  std::unordered_set<Node*> destroyed;
  bool changed = false;
  auto keep = [&](Node* node, const std::string& why) {
    ++linearsKept;
    context.missed(node) << why;
  };
  for (Node* node : collectNodes(*graph)) {
    if (destroyed.count(node)) {
      continue;
    }
    bool addmm = node->kind() == c10::aten::addmm && node->inputs().size() == 5;
    bool matmul = node->kind() == c10::aten::matmul && node->inputs().size() == 2;
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
    if (!context.shouldRewrite(describeNode(node) + (add ? " + " + describeNode(add) : "") + " -> aten::linear", node)) {
      continue;
    }
    Value* inputs[] = {node->input(addmm ? 1 : 0), constants.weight(transposedWeight, *weight),
                       bias ? bias : constants.none()};
    Node* linear = graph->create(c10::aten::linear, inputs, 1);
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
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
