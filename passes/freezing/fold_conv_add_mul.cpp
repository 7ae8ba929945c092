#include "passes/freezing/fold_conv_add_mul.h"

#include "passes/core/graph_utils.h"
#include "passes/freezing/layer_folding.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>

#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

enum class Arithmetic { Add, Sub, Mul, Div };

struct ArithmeticKind {
  const char* name;
  Arithmetic op;
  bool inPlace;
};

const std::vector<ArithmeticKind>& arithmeticKinds() {
  static const std::vector<ArithmeticKind> kinds = {
      {"aten::add", Arithmetic::Add, false}, {"aten::sub", Arithmetic::Sub, false},
      {"aten::mul", Arithmetic::Mul, false}, {"aten::div", Arithmetic::Div, false},
      {"aten::add_", Arithmetic::Add, true}, {"aten::sub_", Arithmetic::Sub, true},
      {"aten::mul_", Arithmetic::Mul, true}, {"aten::div_", Arithmetic::Div, true},
  };
  return kinds;
}

std::optional<ArithmeticKind> arithmeticKindOf(const Node* node) {
  for (const ArithmeticKind& kind : arithmeticKinds()) {
    if (node->kind() == c10::Symbol::fromQualString(kind.name)) {
      return kind;
    }
  }
  return std::nullopt;
}

bool isBatchedInput(const LayerMatch& layer) {
  auto type = layer.node->input(0)->type()->cast<c10::TensorType>();
  return type && type->dim() && static_cast<int64_t>(*type->dim()) == layer.weight.dim();
}

// The constant operand as one factor per output channel (double), or nothing
// when it would change the output's shape or dtype.
std::optional<at::Tensor> perChannel(Value* operand, const LayerMatch& layer, std::string& whyNot) {
  int64_t channels = outputChannels(layer.weight, layer.layout);
  auto number = torch::jit::toIValue(operand);
  if (number && (number->isDouble() || number->isInt())) {
    return at::full({channels}, number->toScalar().toDouble(), at::kDouble);
  }
  auto tensor = constantTensor(operand);
  if (!tensor) {
    whyNot = "the other operand is not a constant";
    return std::nullopt;
  }
  int64_t spatialRank = layer.weight.dim() - 2;
  if (tensor->dim() > 0 && tensor->scalar_type() != layer.weight.scalar_type()) {
    whyNot = "the constant's dtype would promote the result";
    return std::nullopt;
  }
  if (!tensor->is_floating_point() && tensor->dim() > 0) {
    whyNot = "the constant is not floating point";
    return std::nullopt;
  }
  if (tensor->numel() == 1 && tensor->dim() <= spatialRank + 1) {
    return at::full({channels}, tensor->item<double>(), at::kDouble);
  }
  // Aligned from the right, [C, 1, ..., 1] lands on the channel axis of both
  // batched and unbatched outputs; a leading 1 is safe only when batched.
  std::vector<int64_t> sizes = tensor->sizes().vec();
  if (static_cast<int64_t>(sizes.size()) == spatialRank + 2 && sizes.front() == 1 && isBatchedInput(layer)) {
    sizes.erase(sizes.begin());
  }
  bool perChannelShape = static_cast<int64_t>(sizes.size()) == spatialRank + 1 && sizes.front() == channels;
  for (size_t d = 1; perChannelShape && d < sizes.size(); ++d) {
    perChannelShape = sizes[d] == 1;
  }
  if (!perChannelShape) {
    whyNot = "the constant is neither a scalar nor per-channel shaped for this convolution";
    return std::nullopt;
  }
  return tensor->to(at::kDouble).flatten();
}

// y' = scale * conv + shift for `node`, whose input `convSide` is the convolution.
std::optional<Affine> arithmeticAsAffine(const Node* node, const ArithmeticKind& kind, size_t convSide,
                                         const at::Tensor& constant, std::string& whyNot) {
  double alpha = 1.0;
  if (kind.op == Arithmetic::Add || kind.op == Arithmetic::Sub) {
    auto value = torch::jit::toIValue(node->input(2));
    if (!value || !(value->isDouble() || value->isInt())) {
      whyNot = "alpha is not a constant number";
      return std::nullopt;
    }
    alpha = value->toScalar().toDouble();
  }
  at::Tensor ones = at::ones_like(constant);
  switch (kind.op) {
  case Arithmetic::Add:
    return convSide == 0 ? Affine{ones, constant * alpha} : Affine{ones * alpha, constant};
  case Arithmetic::Sub:
    return Affine{ones, constant * -alpha};
  case Arithmetic::Mul:
    return Affine{constant, at::zeros_like(constant)};
  case Arithmetic::Div:
    if ((constant == 0).any().item<bool>()) {
      whyNot = "division by zero";
      return std::nullopt;
    }
    return Affine{constant.reciprocal(), at::zeros_like(constant)};
  }
  return std::nullopt;
}

struct ArithmeticFold {
  LayerMatch layer;
  Affine affine;
};

std::optional<ArithmeticFold> matchArithmetic(Node* node, std::string& whyNot) {
  auto kind = arithmeticKindOf(node);
  size_t expectedInputs = (kind->op == Arithmetic::Add || kind->op == Arithmetic::Sub) ? 3 : 2;
  if (node->inputs().size() != expectedInputs) {
    whyNot = "an overload with other arguments (e.g. a rounding mode)";
    return std::nullopt;
  }
  // conv op c for every kind; c op conv only for out-of-place add and mul.
  bool commutes = !kind->inPlace && (kind->op == Arithmetic::Add || kind->op == Arithmetic::Mul);
  for (size_t convSide : {0, 1}) {
    if (convSide == 1 && !commutes) {
      break;
    }
    std::string notConv;
    auto layer = soleProducer(node->input(convSide), matchConvolution, notConv);
    if (!layer) {
      if (whyNot.empty() || notConv != "not a convolution") {
        whyNot = notConv;  // Keep the reason about the side that is a convolution.
      }
      continue;
    }
    auto constant = perChannel(node->input(1 - convSide), *layer, whyNot);
    if (!constant) {
      return std::nullopt;
    }
    auto affine = arithmeticAsAffine(node, *kind, convSide, *constant, whyNot);
    if (!affine) {
      return std::nullopt;
    }
    return ArithmeticFold{*layer, *affine};
  }
  return std::nullopt;
}

std::vector<torch::jit::NodeKind> arithmeticSymbols() {
  std::vector<torch::jit::NodeKind> symbols;
  for (const ArithmeticKind& kind : arithmeticKinds()) {
    symbols.push_back(c10::Symbol::fromQualString(kind.name));
  }
  return symbols;
}

bool producedByConvolution(Node* node) {
  for (Value* input : node->inputs()) {
    std::string ignored;
    if (matchConvolution(input->node(), ignored)) {
      return true;
    }
  }
  return false;
}

} // namespace

bool FoldConvAddMulPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  bool changed = false;
  for (Node* node : collectNodes(*graph, arithmeticSymbols())) {
    if (!producedByConvolution(node)) {
      continue;  // Arithmetic unrelated to convolutions is not a skip worth reporting.
    }
    std::string whyNot;
    auto fold = matchArithmetic(node, whyNot);
    if (!fold) {
      ++skipped;
      context.debug() << "kept " << describeNode(node) << ": " << whyNot << "\n";
      continue;
    }
    if (!context.shouldRewrite("fold " + describeNode(node) + " into " + describeNode(fold->layer.node))) {
      continue;
    }
    foldIntoLayer(fold->layer, fold->affine);
    node->output()->replaceAllUsesWith(fold->layer.node->output());
    node->destroy();
    ++folded;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
